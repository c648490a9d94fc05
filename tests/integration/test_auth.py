"""Issue 13 on a real worker: the role matrix on a read route, the WebSocket and an admin route.

Read route: ``GET /`` (the live page). WebSocket: ``GET /ws`` (header, or ``?token=`` as a
browser sends it). Admin route: ``POST /admin/accounts/{a}/halt``. Credentials: none, a
viewer JWT, an admin JWT, the static admin token, an expired JWT, a JWT signed with another
secret, and a JWT with an unknown role.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from redfire.web.auth import Role, issue_token
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.integration

SECRET = "auth-matrix-secret-0123456789abcdef0123"
ADMIN_TOKEN = "static-admin-token-13"
OTHER_SECRET = "not-the-workers-secret-0123456789abcdef"
AN_HOUR_AGO = time.time() - 3600


def credentials() -> dict[str, str | None]:
    return {
        "none": None,
        "viewer": issue_token(SECRET, Role.VIEWER, 30),
        "admin": issue_token(SECRET, Role.ADMIN, 30),
        "admin token": ADMIN_TOKEN,
        "expired": issue_token(SECRET, Role.ADMIN, 1, now=AN_HOUR_AGO),
        "wrong signature": issue_token(OTHER_SECRET, Role.ADMIN, 30),
        "unknown role": _token_with_role("trader"),
    }


def _token_with_role(role: str) -> str:
    import jwt

    claims = {"sub": "t", "role": role, "exp": int(time.time()) + 600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


# credential → (GET /, WS /ws, POST admin)
EXPECTED = {
    "none": (401, 401, 401),
    "viewer": (200, 101, 403),
    "admin": (200, 101, 200),
    "admin token": (200, 101, 200),
    "expired": (401, 401, 401),
    "wrong signature": (401, 401, 401),
    "unknown role": (403, 403, 403),
}


def http_status(
    worker: RedFireWorker, method: str, path: str, token: str | None
) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{worker.web_port}{path}",
        data=b"{}" if method == "POST" else None,
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


async def socket_status(worker: RedFireWorker, token: str | None, in_query: bool = False) -> int:
    """Return 101 when /ws accepts the token, else the handshake's HTTP status."""
    url = f"ws://127.0.0.1:{worker.web_port}/ws"
    headers = {}
    if token and in_query:
        url += f"?token={token}"
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, headers=headers) as ws:
                assert not ws.closed
                return 101
        except aiohttp.WSServerHandshakeError as error:
            return error.status


def test_every_credential_gets_the_status_its_role_allows(redfire_worker: Any) -> None:
    worker: RedFireWorker = redfire_worker(
        REDFIRE_JWT_SECRET=SECRET, REDFIRE_ADMIN_TOKEN=ADMIN_TOKEN
    )
    found: dict[str, tuple[int, int, int]] = {}
    for name, token in credentials().items():
        page, _ = http_status(worker, "GET", "/", token)
        socket = asyncio.run(socket_status(worker, token))
        admin, _ = http_status(worker, "POST", "/admin/accounts/AUTH-1/halt", token)
        found[name] = (page, socket, admin)
    assert found == EXPECTED

    # A browser cannot set headers on a WebSocket or a page load: ?token= works for both.
    viewer = credentials()["viewer"]
    assert asyncio.run(socket_status(worker, viewer, in_query=True)) == 101
    assert http_status(worker, "GET", f"/?token={viewer}", None)[0] == 200
    expired = credentials()["expired"]
    assert asyncio.run(socket_status(worker, expired, in_query=True)) == 401

    # A non-bearer Authorization header is refused even when it carries the right secret.
    request = urllib.request.Request(
        f"http://127.0.0.1:{worker.web_port}/", headers={"Authorization": ADMIN_TOKEN}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401

    # The messages say what to do.
    status, body = http_status(worker, "GET", "/", credentials()["expired"])
    assert status == 401 and "expired" in body["error"], body
    status, body = http_status(worker, "POST", "/admin/accounts/AUTH-1/halt", viewer)
    assert status == 403 and "viewer" in body["error"], body
    assert worker.get("/health")["status"] == "ok"  # probes need no token


def test_without_auth_a_worker_bound_beyond_loopback_serves_no_risk_data(
    redfire_worker: Any,
) -> None:
    worker: RedFireWorker = redfire_worker(REDFIRE_WEB_HOST="0.0.0.0")
    status, body = http_status(worker, "GET", "/", None)
    assert status == 403, body
    assert "REDFIRE_JWT_SECRET" in body["error"] and "0.0.0.0" in body["error"], body
    assert asyncio.run(socket_status(worker, None)) == 403
    assert http_status(worker, "POST", "/admin/accounts/AUTH-2/halt", None)[0] == 404
    assert worker.get("/health")["status"] == "ok"


def test_without_auth_on_loopback_reads_are_open_and_admin_routes_off(
    redfire_worker: Any,
) -> None:
    worker: RedFireWorker = redfire_worker()
    status, page = http_status(worker, "GET", "/", None)
    assert status == 200 and b"RedFire" in page
    assert asyncio.run(socket_status(worker, None)) == 101
    assert http_status(worker, "POST", "/admin/accounts/AUTH-3/halt", None)[0] == 404
    admin = issue_token(SECRET, Role.ADMIN, 30)  # no secret configured: no JWT is valid
    assert http_status(worker, "POST", "/admin/accounts/AUTH-3/halt", admin)[0] == 404
