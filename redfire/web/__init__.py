"""HTTP views served by faust web (port 6066), registered on a built engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redfire.app import Engine


def register_views(engine: Engine) -> None:
    """Register every route of DESIGN §9 on the engine's app, behind the access policy."""
    from redfire.web import admin, auth, live, orders, reports, views

    auth.install_auth(engine.app, engine.settings)
    views.register(engine, reports.register(engine))
    orders.register(engine)
    admin.register(engine)
    live.register_live(engine.app, engine.settings)
