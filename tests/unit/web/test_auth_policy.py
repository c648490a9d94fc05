"""The access policy without a server: roles, token validity, loopback-only open reads."""

from __future__ import annotations

import base64
import json
import time
import warnings

import jwt
import pytest
from pydantic import ValidationError

from redfire.settings import Settings
from redfire.web.auth import AccessPolicy, Denial, Principal, Role, is_loopback, issue_token

SECRET = "unit-test-secret-0123456789abcdef0123456"
ADMIN_TOKEN = "static-admin"


def policy(
    secret: str | None = SECRET, admin: str | None = ADMIN_TOKEN, host: str = "127.0.0.1"
) -> AccessPolicy:
    return AccessPolicy(secret, admin, host)


def status(verdict: Principal | Denial) -> int:
    return verdict.status if isinstance(verdict, Denial) else 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.53", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("redfire-1", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_viewer_reads_but_may_not_administer() -> None:
    token = issue_token(SECRET, Role.VIEWER, 5, "alice")
    assert policy().authorize(token, Role.VIEWER) == Principal("alice", Role.VIEWER, "jwt")
    refused = policy().authorize(token, Role.ADMIN)
    assert isinstance(refused, Denial) and refused.status == 403


def test_admin_jwt_and_static_admin_token_do_everything() -> None:
    token = issue_token(SECRET, Role.ADMIN, 5, "bob")
    for credential in (token, ADMIN_TOKEN):
        for role in Role:
            assert status(policy().authorize(credential, role)) == 200


def test_missing_expired_and_forged_tokens_are_401() -> None:
    expired = issue_token(SECRET, Role.ADMIN, 1, now=time.time() - 120)
    forged = issue_token("another-secret-0123456789abcdef0123456", Role.ADMIN, 5)
    for credential in (None, "", expired, forged, "not-a-jwt", ADMIN_TOKEN + "x"):
        verdict = policy().authorize(credential, Role.VIEWER)
        assert status(verdict) == 401, (credential, verdict)
    assert "expired" in str(policy().authorize(expired, Role.VIEWER))


def test_unsigned_and_other_algorithm_tokens_are_refused() -> None:
    def segment(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"sub": "mallory", "role": "admin", "exp": int(time.time()) + 600}
    unsigned = f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(claims)}."
    with warnings.catch_warnings():  # PyJWT warns of the short HS512 key; the point is the alg
        warnings.simplefilter("ignore")
        hs512 = jwt.encode(claims, SECRET, algorithm="HS512")
    for credential in (unsigned, hs512):
        assert status(policy().authorize(credential, Role.VIEWER)) == 401


def test_token_without_expiry_or_with_an_unknown_role() -> None:
    endless = jwt.encode({"sub": "x", "role": "admin"}, SECRET, algorithm="HS256")
    assert status(policy().authorize(endless, Role.VIEWER)) == 401
    trader = jwt.encode(
        {"sub": "x", "role": "trader", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"
    )
    assert status(policy().authorize(trader, Role.VIEWER)) == 403


def test_jwt_is_not_accepted_when_only_the_admin_token_is_configured() -> None:
    token = issue_token(SECRET, Role.ADMIN, 5)
    only_static = policy(secret=None)
    assert status(only_static.authorize(token, Role.VIEWER)) == 401
    assert status(only_static.authorize(ADMIN_TOKEN, Role.ADMIN)) == 200
    assert status(only_static.authorize(None, Role.VIEWER)) == 401  # reads need a token too


def test_without_auth_reads_are_open_on_loopback_only_and_admin_is_off() -> None:
    open_local = policy(secret=None, admin=None, host="127.0.0.1")
    assert open_local.open_reads
    assert status(open_local.authorize(None, Role.VIEWER)) == 200
    assert status(open_local.authorize(None, Role.ADMIN)) == 404
    exposed = policy(secret=None, admin=None, host="0.0.0.0")
    assert not exposed.open_reads
    verdict = exposed.authorize(None, Role.VIEWER)
    assert status(verdict) == 403
    assert "REDFIRE_WEB_HOST=0.0.0.0" in str(verdict)
    assert status(exposed.authorize(None, Role.ADMIN)) == 404


def test_issue_token_claims() -> None:
    token = issue_token(SECRET, Role.VIEWER, 30, "carol", now=1_000_000)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {"sub": "carol", "role": "viewer", "iat": 1_000_000, "exp": 1_001_800}
    with pytest.raises(ValueError, match="more than 0 minutes"):
        issue_token(SECRET, Role.VIEWER, 0)


def test_settings_refuse_a_short_jwt_secret_and_treat_blank_as_unset() -> None:
    with pytest.raises(ValidationError, match="REDFIRE_JWT_SECRET must be at least 32 bytes"):
        Settings(jwt_secret="short")
    blank = Settings(jwt_secret="", admin_token="")
    assert blank.jwt_secret is None and blank.admin_token is None
    assert not AccessPolicy.from_settings(blank).configured
