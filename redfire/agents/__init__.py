"""Faust agents: thin glue of decode → state → risk → state → emit."""

from redfire.agents import commands, fills, firm, market, monitor, orders, stress

__all__ = ["commands", "fills", "firm", "market", "monitor", "orders", "stress"]
