"""Faust agents: thin glue of decode → state → risk → state → emit."""

from redfire.agents import market, orders

__all__ = ["market", "orders"]
