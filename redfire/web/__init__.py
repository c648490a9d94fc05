"""HTTP views served by faust web (port 6066)."""

from redfire.app import app, settings
from redfire.web import admin, auth, live, orders, views

auth.install_auth(app, settings)  # i13: roles; the lead moves this into the app factory
live.register_live(app, settings)  # i13: GET /, /static/{name}, /ws and the output reader

__all__ = ["admin", "auth", "live", "orders", "views"]
