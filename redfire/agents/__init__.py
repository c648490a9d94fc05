"""Faust agents: thin glue of decode → state → risk → state → emit."""

from redfire.agents import commands, fills, market, orders

__all__ = ["commands", "fills", "market", "orders"]
