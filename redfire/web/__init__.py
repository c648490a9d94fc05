"""HTTP views served by faust web (port 6066)."""

from redfire.web import views

__all__ = ["views"]
