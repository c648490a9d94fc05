"""Read the instrument master file (``REDFIRE_INSTRUMENTS_FILE``) into instruments.

The parsing and validation are ``risk.instruments.parse_instruments_yaml``; this adds the file:
an unreadable or invalid file is refused with an ``InstrumentFileError`` that names the file,
and for a bad entry its symbol and field, so a worker refuses to start rather than trade on a
half-read master.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from redfire.risk.instruments import (
    Instrument,
    InstrumentBook,
    InstrumentFileError,
    parse_instruments_yaml,
)

EXAMPLE_FILE = "instruments.example.yaml"


def load_instruments_file(path: Path) -> dict[str, Instrument]:
    """Return the instruments of a YAML file; raise InstrumentFileError naming what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problem = f"cannot read the instruments file: {exc.strerror}"
        raise InstrumentFileError(f"{path}: {problem}") from None
    except UnicodeDecodeError as exc:
        raise InstrumentFileError(f"{path}: not UTF-8 text: {exc}") from None
    return parse_instruments_yaml(text, str(path))


def instrument_book(path: Path | None) -> InstrumentBook:
    """Return the book of ``path`` (REDFIRE_INSTRUMENTS_FILE), or an empty one without a file."""
    if path is None:
        return InstrumentBook()
    return InstrumentBook(load_instruments_file(path).values())


def example_instruments() -> dict[str, Instrument]:
    """Return the instruments of the shipped example file (the demo's master)."""
    text = resources.files("redfire.config").joinpath(EXAMPLE_FILE).read_text(encoding="utf-8")
    return parse_instruments_yaml(text, EXAMPLE_FILE)
