"""Health and account views."""

from __future__ import annotations

from faust import web

from redfire.app import app


@app.page("/health")
async def health(self: web.View, request: web.Request) -> web.Response:
    """Answer whether the worker runs, with its recovery state."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    recovering = not recovery.completed.is_set()
    return self.json({"status": "recovering" if recovering else "ok", "app_id": app.conf.id})
