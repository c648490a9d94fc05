"""HTTP views served by faust web (port 6066)."""

from redfire.web import admin, orders, views

__all__ = ["admin", "orders", "views"]
