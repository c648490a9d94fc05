"""Who may use the HTTP routes: viewer and admin roles (DESIGN §9, seed 003's JWT security).

Credentials are a bearer token: a JWT signed HS256 with ``REDFIRE_JWT_SECRET`` whose
``role`` claim is ``viewer`` or ``admin``, or the static ``REDFIRE_ADMIN_TOKEN`` (an admin
for simple setups). Browsers cannot put a header on a page load or a WebSocket, so the
token is also read from the ``token`` query parameter (faust web keeps no access log).

The policy, in full:

* admin routes: off (404) when neither a JWT secret nor an admin token is configured;
  otherwise no, expired or wrongly signed credentials answer 401 and a viewer 403.
* read routes (the page, the WebSocket, account and report routes): with auth configured
  they need a viewer or admin token (401 without one). With no auth configured they are
  open only while the web server listens on a loopback address; bound anywhere else they
  answer 403 naming the settings, so a worker on 0.0.0.0 never serves risk data to anyone
  who asks. The worker still starts: ``/health`` and ``/metrics`` must answer probes.

Views call :func:`require` first thing; the policy travels with the faust app's aiohttp
application (installed by :func:`install_auth`), never in a module global.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Concatenate, Final, ParamSpec, TypeVar, cast

import faust
import jwt
from aiohttp import web as aiohttp_web
from faust import web

from redfire.settings import Settings

ALGORITHM: Final = "HS256"
TOKEN_QUERY_PARAMETER: Final = "token"
ANONYMOUS: Final = "anonymous"
LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})
CLOCK_SKEW_S: Final = 10  # tolerated between the issuing host's clock and a worker's


class Role(StrEnum):
    """A role a token grants; each includes the rights of the roles below it."""

    VIEWER = "viewer"
    ADMIN = "admin"


RANK: Final[Mapping[Role, int]] = {Role.VIEWER: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: ``via`` is ``jwt``, ``admin_token`` or ``open_loopback``."""

    subject: str
    role: Role
    via: str


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a request is refused: the HTTP status and a message that says what to do."""

    status: int
    error: str


Verdict = Principal | Denial


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` (REDFIRE_WEB_HOST) only accepts connections from this machine."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def issue_token(
    secret: str, role: Role, minutes: float, subject: str = "redfire", now: float | None = None
) -> str:
    """Return an HS256 JWT granting ``role`` to ``subject`` for ``minutes``."""
    if minutes <= 0:
        raise ValueError(f"a token must live more than 0 minutes, got {minutes}")
    issued = int(time.time() if now is None else now)
    expires = issued + max(1, round(minutes * 60))
    claims = {"sub": subject, "role": role.value, "iat": issued, "exp": expires}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


@dataclass(frozen=True)
class AccessPolicy:
    """Decide whether credentials grant a role, from the configured secrets and web host."""

    jwt_secret: str | None
    admin_token: str | None
    web_host: str

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessPolicy:
        """Return the policy the settings describe."""
        return cls(settings.jwt_secret or None, settings.admin_token or None, settings.web_host)

    @property
    def configured(self) -> bool:
        """Tell whether any credential (JWT secret or admin token) is configured."""
        return self.jwt_secret is not None or self.admin_token is not None

    @property
    def open_reads(self) -> bool:
        """Tell whether read routes answer without credentials (no auth, loopback only)."""
        return not self.configured and is_loopback(self.web_host)

    def authorize(self, token: str | None, role: Role) -> Verdict:
        """Return who ``token`` is when it grants ``role``, else why not."""
        if not self.configured:
            return self._unconfigured(role)
        if not token:
            return Denial(401, f"{role.value} route: send Authorization: Bearer <token>")
        found = self.identify(token)
        if isinstance(found, Denial):
            return found
        if RANK[found.role] < RANK[role]:
            return Denial(403, f"role {found.role.value} may not use {role.value} routes")
        return found

    def identify(self, token: str) -> Verdict:
        """Return the principal a token stands for, or 401 when it is not a valid one."""
        if self.admin_token is not None and hmac.compare_digest(
            token.encode(), self.admin_token.encode()
        ):
            return Principal("admin-token", Role.ADMIN, "admin_token")
        if self.jwt_secret is None:
            return Denial(401, "wrong token (no JWT secret is configured: use the admin token)")
        return _decode(token, self.jwt_secret)

    def _unconfigured(self, role: Role) -> Verdict:
        if role is Role.ADMIN:
            return Denial(
                404, "admin routes are off: set REDFIRE_ADMIN_TOKEN or REDFIRE_JWT_SECRET"
            )
        if not is_loopback(self.web_host):
            return Denial(
                403,
                f"risk routes are closed: REDFIRE_WEB_HOST={self.web_host} is not a loopback "
                "address and neither REDFIRE_JWT_SECRET nor REDFIRE_ADMIN_TOKEN is set",
            )
        return Principal(ANONYMOUS, Role.VIEWER, "open_loopback")


def _decode(token: str, secret: str) -> Verdict:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "role"]},
            leeway=CLOCK_SKEW_S,
        )
    except jwt.ExpiredSignatureError:
        return Denial(401, "token expired: issue a new one with 'redfire token'")
    except jwt.InvalidSignatureError:
        return Denial(401, "token signature does not match REDFIRE_JWT_SECRET")
    except jwt.InvalidTokenError as exc:
        return Denial(401, f"invalid token: {exc}")
    role = claims.get("role")
    if not isinstance(role, str) or role not in RANK:
        return Denial(403, f"token role {role!r} is not one of {', '.join(RANK)}")
    return Principal(str(claims.get("sub", "")), Role(role), "jwt")


# --- faust web -----------------------------------------------------------------------------

POLICY_KEY: Final = aiohttp_web.AppKey("redfire.access_policy", AccessPolicy)


def install_auth(app: faust.App, settings: Settings) -> AccessPolicy:
    """Attach the settings' access policy to the faust app's web server; return it.

    Call once, before the worker starts (aiohttp freezes its application at start).
    """
    policy = AccessPolicy.from_settings(settings)
    aiohttp_app(app)[POLICY_KEY] = policy
    return policy


def aiohttp_app(app: faust.App) -> aiohttp_web.Application:
    """Return the aiohttp application behind the faust app's web driver."""
    found = getattr(app.web, "web_app", None)
    if not isinstance(found, aiohttp_web.Application):
        raise RuntimeError("redfire.web needs faust's aiohttp web driver (web='aiohttp://')")
    return found


def request_token(request: web.Request) -> str | Denial | None:
    """Return the bearer token of a request (Authorization header, else ?token=), if any."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return Denial(401, "Authorization must be 'Bearer <token>'")
        return value.strip()
    query = cast(aiohttp_web.Request, request).query.get(TOKEN_QUERY_PARAMETER)
    return query or None


def check(request: web.Request, role: Role) -> Verdict:
    """Return the caller of ``request`` when it may use a ``role`` route, else why not."""
    policy = cast(aiohttp_web.Request, request).app.get(POLICY_KEY)
    if policy is None:  # fail closed: a route must never be open because wiring is missing
        return Denial(500, "access policy not installed: call redfire.web.auth.install_auth")
    token = request_token(request)
    if isinstance(token, Denial):
        return token if policy.configured else policy.authorize(None, role)
    return policy.authorize(token, role)


def denial_response(denial: Denial) -> web.Response:
    """Return the JSON error response for a refusal."""
    headers = {"WWW-Authenticate": 'Bearer realm="redfire"'} if denial.status == 401 else None
    response = aiohttp_web.json_response(
        {"error": denial.error}, status=denial.status, headers=headers
    )
    return cast(web.Response, response)


def require(request: web.Request, role: Role) -> web.Response | None:
    """Return the refusal to send when the request may not use a ``role`` route, else None.

    ``if (refused := require(request, Role.VIEWER)) is not None: return refused``
    """
    verdict = check(request, role)
    return denial_response(verdict) if isinstance(verdict, Denial) else None


P = ParamSpec("P")
V = TypeVar("V", bound=web.View)
Handler = Callable[Concatenate[V, web.Request, P], Awaitable[Any]]


def guarded(role: Role) -> Callable[[Handler[V, P]], Handler[V, P]]:
    """Decorate a view method (``async def get(self, request, ...)``) with :func:`require`.

    Put it outermost, above ``@app.table_route``: a forwarded request carries its
    Authorization header and query, and the owner checks it again.
    """

    def decorate(handler: Handler[V, P]) -> Handler[V, P]:
        async def checked(
            view: V, request: web.Request, /, *args: P.args, **kwargs: P.kwargs
        ) -> Any:
            if (refused := require(request, role)) is not None:
                return refused
            return await handler(view, request, *args, **kwargs)

        checked.__name__ = handler.__name__
        checked.__doc__ = handler.__doc__
        return checked

    return decorate
