"""The Avro schemas of redfire/schemas/*.avsc and their fixed wire ids."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import fastavro

# Without a schema registry the Confluent framing still needs an id: these are
# RedFire's own, stable across releases. A registry can map them 1:1.
SCHEMA_IDS: dict[str, int] = {
    "tick": 1,
    "order_request": 2,
    "fill": 3,
    "order_decision": 4,
    "risk_alert": 5,
    "risk_snapshot": 6,
    "risk_command": 7,
    "stress_result": 8,
    "dead_letter": 9,
    "instrument": 10,
    "tick_batch": 11,
}


@dataclass(frozen=True)
class AvroSchema:
    name: str
    schema_id: int
    raw: dict[str, Any]
    parsed: Any

    @property
    def fields(self) -> list[dict[str, Any]]:
        """Return the top-level field declarations."""
        fields: list[dict[str, Any]] = self.raw["fields"]
        return fields


@cache
def schema(name: str) -> AvroSchema:
    """Return the schema stored in ``redfire/schemas/{name}.avsc``."""
    if name not in SCHEMA_IDS:
        raise KeyError(f"unknown schema {name!r}; known: {sorted(SCHEMA_IDS)}")
    text = resources.files("redfire.schemas").joinpath(f"{name}.avsc").read_text()
    raw = json.loads(text)
    return AvroSchema(name, SCHEMA_IDS[name], raw, fastavro.parse_schema(raw))
