"""FX rates: direct, inverse and cross conversion, missing rates, and the returns of a rate."""

from __future__ import annotations

import numpy as np
import pytest

from redfire.risk.fx import (
    Conversion,
    FxRates,
    MissingRate,
    check_currency,
    compose_returns,
    conversion_returns,
    inverse_returns,
    split_pair,
)

T0 = 1_700_000_000_000


def rates(*quotes: tuple[str, float]) -> FxRates:
    book = FxRates()
    for pair, rate in quotes:
        book.on_tick(pair, pair[:3], pair[3:], rate, T0)
    return book


@pytest.mark.parametrize(
    ("quotes", "source", "target", "rate", "path"),
    [
        ([("USDCNY", 7.1)], "USD", "CNY", 7.1, "USDCNY 7.1"),
        ([("USDCNY", 7.1)], "CNY", "USD", 1 / 7.1, "1/USDCNY 7.1"),
        ([("HKDCNY", 0.91)], "HKD", "CNY", 0.91, "HKDCNY 0.91"),
        ([("USDCNY", 7.1), ("USDHKD", 7.8)], "HKD", "CNY", 7.1 / 7.8, "1/USDHKD 7.8 × USDCNY 7.1"),
        ([("USDCNY", 7.1), ("USDHKD", 7.8)], "CNY", "HKD", 7.8 / 7.1, "1/USDCNY 7.1 × USDHKD 7.8"),
        ([("EURUSD", 1.08), ("USDCNY", 7.1)], "EUR", "CNY", 1.08 * 7.1, "EURUSD 1.08 × USDCNY 7.1"),
        (
            [("HKDCNY", 0.91), ("USDCNY", 7.1)],
            "HKD",
            "USD",
            0.91 / 7.1,
            "HKDCNY 0.91 × 1/USDCNY 7.1",
        ),
        ([], "CNY", "CNY", 1.0, "CNY = CNY"),
    ],
)
def test_conversion_direct_inverse_and_cross(
    quotes: list[tuple[str, float]], source: str, target: str, rate: float, path: str
) -> None:
    conversion = rates(*quotes).convert(source, target)

    assert isinstance(conversion, Conversion)
    assert conversion.rate == pytest.approx(rate, rel=1e-15)
    assert conversion.describe() == path


def test_a_missing_rate_is_a_value_naming_what_was_tried_never_one() -> None:
    book = rates(("USDHKD", 7.8))

    missing = book.convert("JPY", "CNY")

    assert isinstance(missing, MissingRate)
    assert book.rate("JPY", "CNY") is None
    assert missing.message() == "no JPY→CNY FX rate: no tick or master rate for JPYCNY, CNYJPY"


def test_cross_only_through_the_configured_pivots() -> None:
    book = FxRates(pivots=["USD"])
    book.on_tick("HKDEUR", "HKD", "EUR", 0.12, T0)
    book.on_tick("EURCNY", "EUR", "CNY", 7.7, T0)

    missing = book.convert("HKD", "CNY")

    assert isinstance(missing, MissingRate)
    assert "HKD/USD/CNY" in missing.tried
    assert isinstance(FxRates().convert("HKD", "CNY"), MissingRate)  # nothing quoted at all


def test_ticks_replace_the_master_rate_and_older_ticks_are_ignored() -> None:
    book = FxRates()
    book.set_reference("USDCNY", "USD", "CNY", 7.0)
    assert book.rate("USD", "CNY") == 7.0
    reference = book.convert("USD", "CNY")
    assert isinstance(reference, Conversion) and reference.has_reference_leg

    assert book.on_tick("USDCNY", "USD", "CNY", 7.2, T0 + 10)
    assert not book.on_tick("USDCNY", "USD", "CNY", 7.3, T0)  # older: ignored
    book.set_reference("USDCNY", "USD", "CNY", 6.9)  # a later master never hides a tick

    ticked = book.convert("USD", "CNY")
    assert isinstance(ticked, Conversion)
    assert ticked.rate == 7.2 and ticked.ts == T0 + 10 and not ticked.has_reference_leg


def test_a_cross_is_as_old_as_its_oldest_leg() -> None:
    book = FxRates()
    book.on_tick("USDCNY", "USD", "CNY", 7.1, T0 + 500)
    book.on_tick("USDHKD", "USD", "HKD", 7.8, T0 + 100)

    conversion = book.convert("HKD", "CNY")

    assert isinstance(conversion, Conversion)
    assert conversion.ts == T0 + 100
    assert conversion.symbols() == ("USDHKD", "USDCNY")


@pytest.mark.parametrize("rate", [0.0, -7.1, float("nan"), float("inf")])
def test_a_bad_rate_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="USDCNY"):
        FxRates().on_tick("USDCNY", "USD", "CNY", rate, T0)


@pytest.mark.parametrize(
    ("symbol", "pair"),
    [
        ("USDCNY", ("USD", "CNY")),
        ("HKDCNY", ("HKD", "CNY")),
        ("USDUSD", None),
        ("ABCDEF", None),
        ("AAPL", None),
        ("USD/CNY", None),
    ],
)
def test_bare_iso_pairs(symbol: str, pair: tuple[str, str] | None) -> None:
    assert split_pair(symbol) == pair


def test_currency_codes_are_three_upper_case_letters() -> None:
    assert check_currency("CNH") == "CNH"
    with pytest.raises(ValueError, match="3-letter"):
        check_currency("usd")


def test_the_returns_of_a_conversion_are_exact() -> None:
    rng = np.random.default_rng(3)
    usdcny, usdhkd = rng.normal(0, 0.01, 60), rng.normal(0, 0.002, 50)
    book = rates(("USDCNY", 7.1), ("USDHKD", 7.8))
    conversion = book.convert("HKD", "CNY")
    assert isinstance(conversion, Conversion)

    returns = conversion_returns(conversion, {"USDCNY": usdcny, "USDHKD": usdhkd})

    # Rebuild the HKD→CNY rate path from the two pairs' paths and take its returns.
    cny = 7.1 * np.cumprod(np.concatenate([[1.0], 1 + usdcny[-50:]]))
    hkd = 7.8 * np.cumprod(np.concatenate([[1.0], 1 + usdhkd]))
    cross = cny / hkd
    assert isinstance(returns, np.ndarray)
    np.testing.assert_allclose(returns, cross[1:] / cross[:-1] - 1, rtol=1e-12)


def test_conversion_returns_identity_and_missing_windows() -> None:
    book = rates(("USDCNY", 7.1))
    usd = book.convert("USD", "CNY")
    assert isinstance(usd, Conversion)

    assert conversion_returns(book.convert("CNY", "CNY"), {}) is None  # type: ignore[arg-type]
    assert conversion_returns(usd, {}) == ("USDCNY",)


def test_inverse_and_composed_returns() -> None:
    np.testing.assert_allclose(inverse_returns(np.array([0.25, -0.2])), [-0.2, 0.25])
    np.testing.assert_allclose(
        compose_returns(np.array([9.0, 0.1, 0.2]), np.array([0.5, -0.5])),
        [1.1 * 1.5 - 1, 1.2 * 0.5 - 1],
    )
