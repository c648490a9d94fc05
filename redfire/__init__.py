"""RedFire: a real-time trading-risk engine on Faust and Kafka.

``faust -A redfire worker`` imports this package: it exposes the configured
``app`` with every agent, table and view registered.
"""

from redfire import agents, web
from redfire.app import app

__all__ = ["agents", "app", "web"]
