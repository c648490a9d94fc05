"""RedFire: a real-time trading-risk engine on Faust and Kafka.

Importing the package builds nothing. ``faust -A redfire worker`` asks for
``redfire.app``, which builds the worker from the environment's settings on
first use (``redfire.app.build_engine`` builds one from explicit settings).

The factory module is also named ``app``: importing it makes the package's
``app`` attribute the module, so the first access rebinds the attribute to the
built faust App (faust looks it up more than once). ``from redfire.app import
…`` keeps working: it reads the module from ``sys.modules``.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "app":
        from redfire.app import default_app

        built = default_app()
        globals()["app"] = built
        return built
    raise AttributeError(f"module 'redfire' has no attribute {name!r}")
