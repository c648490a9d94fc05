"""An independent ledger to check RedFire's positions, cash and PnL against.

Exact rational arithmetic (``fractions.Fraction``) and no import from
``redfire``: a bug in ``redfire.risk.positions`` cannot hide in the check.
The rules are the ones the issue states, written again from scratch:

* a fill is applied once per (account, fill_id); a repeat is ignored;
* cash moves by −qty·price for a buy, +qty·price for a sell, minus the fee;
* an increase moves the average cost (weighted by quantity);
* a reduction realizes (price − avg)·closed for a long, (avg − price)·closed
  for a short, gross of fees; the average cost of what is left is unchanged;
* a fill that crosses zero closes the old side at the average cost and opens
  the remainder at the fill price.

It also generates the fill streams the ledger tests send, sends them, waits
for the worker's consumer group to commit them, compares the bodies of
``GET /accounts/{a}/positions`` with the ledger, and explains a difference
by the fills whose loss or double application would cause it.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from tests.support.eventually import eventually
from tests.support.kafka_io import partition_count, send_json

JsonRecord = dict[str, Any]
JsonGetter = Callable[[str], Any]
T0_MS = 1_700_000_000_000
SYMBOLS: tuple[str, ...] = ("AAPL", "MSFT", "NVDA", "AMZN", "JPM", "XOM")
AVG_COST_REL_TOL = 1e-9
HALF_CENT = 0.005
UNEXPLAINED = "no single lost/doubled fill explains it"


def exact(value: float | int | str) -> Fraction:
    """Return the decimal a JSON number stands for, exactly (12.34 → 1234/100).

    A float goes through its shortest repr, which is how JSON wrote it, so the
    binary rounding of ``12.34`` never reaches the ledger.
    """
    if isinstance(value, bool):
        raise TypeError("exact takes a number, not a bool")
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


def _sign(value: Fraction) -> int:
    return (value > 0) - (value < 0)


@dataclass
class LedgerPosition:
    """One (account, symbol) position in exact arithmetic."""

    qty: Fraction = Fraction(0)
    avg_cost: Fraction = Fraction(0)
    realized_pnl: Fraction = Fraction(0)
    fees: Fraction = Fraction(0)

    def apply(self, side: str, qty: Fraction, price: Fraction, fee: Fraction) -> Fraction:
        """Apply one execution and return the cash it moves."""
        if side not in ("BUY", "SELL"):
            raise ValueError(f"side must be BUY or SELL, got {side!r}")
        signed = qty if side == "BUY" else -qty
        old = self.qty
        new = old + signed
        if old == 0 or _sign(old) == _sign(signed):
            self.avg_cost = (abs(old) * self.avg_cost + qty * price) / abs(new)
        else:
            closed = min(abs(old), qty)
            self.realized_pnl += (price - self.avg_cost) * closed * _sign(old)
            if new == 0:
                self.avg_cost = Fraction(0)
            elif _sign(new) != _sign(old):
                self.avg_cost = price
        self.qty = new
        self.fees += fee
        notional = qty * price
        return (-notional if side == "BUY" else notional) - fee


@dataclass
class Ledger:
    """Accounts → cash and positions, fed with the fills in the order they are applied."""

    opening_cash: Fraction
    _cash: dict[str, Fraction] = field(default_factory=dict)
    _positions: dict[str, dict[str, LedgerPosition]] = field(default_factory=dict)
    _seen: set[tuple[str, str]] = field(default_factory=set)
    _history: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)

    def apply(self, fill: Mapping[str, Any]) -> bool:
        """Apply a fill (wire JSON fields); return False when its (account, fill_id) was seen."""
        account = str(fill["account"])
        self._history.setdefault(account, []).append(fill)
        key = (account, str(fill["fill_id"]))
        if key in self._seen:
            return False
        self._seen.add(key)
        position = self._positions.setdefault(account, {}).setdefault(
            str(fill["symbol"]), LedgerPosition()
        )
        cash_delta = position.apply(
            str(fill["side"]), exact(fill["qty"]), exact(fill["price"]), exact(fill.get("fee", 0))
        )
        self._cash[account] = self.cash(account) + cash_delta
        return True

    def apply_all(self, fills: Iterable[Mapping[str, Any]]) -> int:
        """Apply fills in order; return how many were new."""
        return sum(self.apply(fill) for fill in fills)

    def cash(self, account: str) -> Fraction:
        return self._cash.get(account, self.opening_cash)

    def positions(self, account: str) -> dict[str, LedgerPosition]:
        """Return symbol → position of every symbol the account has traded."""
        return dict(self._positions.get(account, {}))

    def accounts(self) -> list[str]:
        return sorted(self._positions)

    def cash_moves(self, account: str) -> list[tuple[str, Fraction]]:
        """Return (fill_id, cash moved) of the account's distinct fills, in applied order."""
        replay = Ledger(self.opening_cash)
        moves = []
        for fill in self.history(account):
            before = replay.cash(account)
            if replay.apply(fill):
                moves.append((str(fill["fill_id"]), replay.cash(account) - before))
        return moves

    def distinct_fills(self, account: str) -> list[Mapping[str, Any]]:
        """Return the account's fills in applied order, repeats left out."""
        seen: set[str] = set()
        fills = []
        for fill in self.history(account):
            if str(fill["fill_id"]) not in seen:
                seen.add(str(fill["fill_id"]))
                fills.append(fill)
        return fills

    def history(self, account: str) -> list[Mapping[str, Any]]:
        """Return every fill given for the account, duplicates included, in order."""
        return list(self._history.get(account, ()))


def same_cents(actual: float, expected: Fraction) -> bool:
    """Return True when two amounts agree to the cent.

    Half a cent either way, not ``round(x, 2) ==``: an exact PnL such as
    0.125 and its float from the worker could round to different cents.
    """
    return abs(actual - float(expected)) < HALF_CENT


def account_mismatches(body: Mapping[str, Any], ledger: Ledger, account: str) -> list[str]:
    """Compare a ``/accounts/{a}/positions`` body with the ledger; return the differences."""
    problems: list[str] = []
    if body.get("account") != account:
        problems.append(f"{account}: body is for account {body.get('account')!r}")
    cash = float(body["cash"])
    if not same_cents(cash, ledger.cash(account)):
        problems.append(f"{account}: cash {cash!r} != ledger {float(ledger.cash(account))!r}")
    served = {row["symbol"]: row for row in body["positions"]}
    expected = ledger.positions(account)
    if served.keys() != expected.keys():
        problems.append(f"{account}: symbols {sorted(served)} != ledger {sorted(expected)}")
    for symbol in sorted(served.keys() & expected.keys()):
        problems.extend(
            _position_mismatches(f"{account}/{symbol}", served[symbol], expected[symbol])
        )
    return problems


def worker_mismatches(get: JsonGetter, ledger: Ledger, accounts: Iterable[str]) -> list[str]:
    """Read every account's positions over HTTP; return the differences with the ledger."""
    problems: list[str] = []
    for account in accounts:
        problems.extend(account_mismatches(get(f"/accounts/{account}/positions"), ledger, account))
    return problems


def assert_worker_matches_ledger(get: JsonGetter, ledger: Ledger, accounts: Sequence[str]) -> bool:
    """Raise AssertionError naming the first differences; return True when there are none."""
    problems = worker_mismatches(get, ledger, accounts)
    if problems:
        shown = "\n  ".join(problems[:12])
        raise AssertionError(f"{len(problems)} differences with the ledger, first:\n  {shown}")
    return True


def wait_until_worker_matches_ledger(
    get: JsonGetter, ledger: Ledger, accounts: Sequence[str], timeout: float, what: str
) -> float:
    """Poll until every account equals the ledger; return seconds taken.

    On timeout, the error also names, per differing account, the single fill
    whose loss or double application explains the difference, or else the run
    of consecutive fills missing from its cash or from each differing position.
    """
    began = time.monotonic()
    try:
        eventually(
            lambda: assert_worker_matches_ledger(get, ledger, accounts),
            timeout=timeout,
            interval=1.0,
            message=what,
            retry_on=(AssertionError, OSError),
        )
    except AssertionError as error:
        raise AssertionError(f"{error}\n{diagnose(get, ledger, accounts)}") from error
    return time.monotonic() - began


def explain_cash_by_run(
    ledger: Ledger, account: str, served_cash: float, most: int = 3
) -> list[str]:
    """Name runs of consecutive fills whose cash moves are missing from (or doubled in) the cash.

    A run of lost cash moves is what a table rolled back to an older value
    looks like when the fills after it are still marked as seen.
    """
    moves = ledger.cash_moves(account)
    gap = exact(round(served_cash, 2)) - ledger.cash(account)
    prefix = [Fraction(0)]
    for _fill_id, move in moves:
        prefix.append(prefix[-1] + move)
    found = []
    for first in range(len(moves)):
        for end in range(first + 1, len(moves) + 1):
            run = prefix[end] - prefix[first]
            what = "lost" if run == -gap else "doubled" if run == gap else None
            if what and run != 0:
                count = end - first
                ids = moves[first][0] if count == 1 else f"{moves[first][0]}..{moves[end - 1][0]}"
                found.append(f"cash of {ids} ({count} in a row) {what}")
                if len(found) == most:
                    return found
    return found


def explain_position_by_run(
    ledger: Ledger, account: str, row: Mapping[str, Any], longest: int = 10, most: int = 3
) -> list[str]:
    """Name runs of consecutive fills of one symbol missing from the served position.

    A position rolled back to an older value, with the fills after it still
    marked as seen, serves the ledger's position less that run.
    """
    symbol = str(row["symbol"])
    fills = [fill for fill in ledger.distinct_fills(account) if fill["symbol"] == symbol]
    found = []
    for first in range(len(fills)):
        for end in range(first + 1, min(first + longest, len(fills)) + 1):
            position = LedgerPosition()
            for fill in fills[:first] + fills[end:]:
                position.apply(
                    str(fill["side"]),
                    exact(fill["qty"]),
                    exact(fill["price"]),
                    exact(fill.get("fee", 0)),
                )
            if not _position_mismatches("", row, position):
                count = end - first
                ids = fills[first]["fill_id"]
                ids = ids if count == 1 else f"{ids}..{fills[end - 1]['fill_id']}"
                found.append(f"position {symbol} lacks {ids} ({count} in a row)")
                if len(found) == most:
                    return found
    return found


def explain_by_runs(ledger: Ledger, account: str, body: Mapping[str, Any]) -> list[str]:
    """Explain each differing table value (cash, each position) by a run of lost fills."""
    found = []
    if not same_cents(float(body["cash"]), ledger.cash(account)):
        found += explain_cash_by_run(ledger, account, float(body["cash"])) or ["cash: ?"]
    expected = ledger.positions(account)
    for row in body["positions"]:
        want = expected.get(row["symbol"])
        if want is not None and _position_mismatches("", row, want):
            found += explain_position_by_run(ledger, account, row) or [
                f"position {row['symbol']}: ?"
            ]
    return found


def diagnose(get: JsonGetter, ledger: Ledger, accounts: Sequence[str], most: int = 5) -> str:
    """Explain the first ``most`` differing accounts by lost or doubled fills."""
    lines = []
    for account in accounts:
        body = get(f"/accounts/{account}/positions")
        if account_mismatches(body, ledger, account):
            found = explain_by_one_fill(ledger, account, body) or explain_by_runs(
                ledger, account, body
            )
            lines.append(f"  {account}: {'; '.join(found) or UNEXPLAINED}")
            if len(lines) == most:
                break
    heading = "explained by one fill, or by runs of fills lost from one stored value:"
    return "\n".join([heading, *lines])


def explain_by_one_fill(ledger: Ledger, account: str, body: Mapping[str, Any]) -> list[str]:
    """Name the single fills whose loss, or double application, turns the ledger into ``body``.

    A diagnosis for failures: "ACC037-F00001 lost" says more than a cash figure.
    """
    history = ledger.history(account)
    found = []
    for suspect in dict.fromkeys(str(fill["fill_id"]) for fill in history):
        for what in ("lost", "doubled"):
            replay = Ledger(ledger.opening_cash)
            for fill in history:
                if fill["fill_id"] != suspect:
                    replay.apply(fill)
                elif what == "doubled" and replay.apply(fill):
                    replay.apply({**fill, "fill_id": f"{suspect}#again"})
            if not account_mismatches(body, replay, account):
                found.append(f"{suspect} {what}")
    return found


def _position_mismatches(where: str, row: Mapping[str, Any], want: LedgerPosition) -> list[str]:
    problems = []
    if float(row["qty"]) != float(want.qty):
        problems.append(f"{where}: qty {row['qty']!r} != ledger {float(want.qty)!r}")
    if not math.isclose(
        float(row["avg_cost"]), float(want.avg_cost), rel_tol=AVG_COST_REL_TOL, abs_tol=1e-12
    ):
        problems.append(f"{where}: avg_cost {row['avg_cost']!r} != ledger {float(want.avg_cost)!r}")
    if not same_cents(float(row["realized_pnl"]), want.realized_pnl):
        problems.append(
            f"{where}: realized_pnl {row['realized_pnl']!r} != ledger {float(want.realized_pnl)!r}"
        )
    return problems


@dataclass(frozen=True)
class FillStream:
    """Fills in send order, as (key, value); duplicates included."""

    records: list[tuple[str, JsonRecord]]
    distinct: int

    @property
    def duplicates(self) -> int:
        return len(self.records) - self.distinct

    def accounts(self) -> list[str]:
        return sorted({key for key, _value in self.records})


def account_names(count: int) -> list[str]:
    return [f"ACC{i:03d}" for i in range(count)]


def fill_stream(
    rng: random.Random,
    accounts: Sequence[str],
    fills_per_account: int,
    *,
    duplicate_share: float = 0.05,
    shuffle_block: int = 5,
    duplicate_reach: int = 40,
) -> FillStream:
    """Generate fills for each account, shuffled within small blocks, with re-sent duplicates.

    Prices carry two decimals, quantities are whole, fees two decimals. Sides
    are random, so positions increase, reduce, close and flip. The accounts'
    sequences are interleaved at random; each account's own order (the order
    of its partition, which is the order the worker applies) is kept.
    """
    per_account = {
        account: _account_sequence(
            rng, account, fills_per_account, duplicate_share, shuffle_block, duplicate_reach
        )
        for account in accounts
    }
    turns = [account for account, records in per_account.items() for _ in records]
    rng.shuffle(turns)
    cursors = dict.fromkeys(per_account, 0)
    records: list[tuple[str, JsonRecord]] = []
    for account in turns:
        records.append((account, per_account[account][cursors[account]]))
        cursors[account] += 1
    return FillStream(records, distinct=fills_per_account * len(accounts))


def _account_sequence(
    rng: random.Random,
    account: str,
    count: int,
    duplicate_share: float,
    shuffle_block: int,
    duplicate_reach: int,
) -> list[JsonRecord]:
    price_cents = {symbol: rng.randint(2_000, 90_000) for symbol in SYMBOLS}
    symbols = rng.sample(SYMBOLS, k=rng.randint(2, len(SYMBOLS)))
    fills: list[JsonRecord] = []
    for n in range(count):
        symbol = rng.choice(symbols)
        price_cents[symbol] = max(100, price_cents[symbol] + rng.randint(-150, 150))
        fills.append(
            {
                "fill_id": f"{account}-F{n:05d}",
                "order_id": f"{account}-O{n // 3:05d}",
                "account": account,
                "symbol": symbol,
                "side": rng.choice(("BUY", "SELL")),
                "qty": rng.randint(1, 300),
                "price": price_cents[symbol] / 100,
                "fee": rng.randint(0, 999) / 100,
                "ts": T0_MS + n * 1_000,
            }
        )
    for start in range(0, count, shuffle_block):
        block = fills[start : start + shuffle_block]
        rng.shuffle(block)
        fills[start : start + shuffle_block] = block
    ordered: list[tuple[tuple[int, int], JsonRecord]] = [((i, 0), f) for i, f in enumerate(fills)]
    for i in rng.sample(range(count), k=round(count * duplicate_share)):
        again = min(count - 1, i + rng.randint(0, duplicate_reach))
        ordered.append(((again, 1), dict(fills[i])))
    ordered.sort(key=lambda item: item[0])
    return [fill for _order, fill in ordered]


def send_fills(prod: Producer, topic: str, records: Iterable[tuple[str, JsonRecord]]) -> float:
    """Queue the fills keyed by account, serving delivery callbacks; return seconds taken."""
    began = time.monotonic()
    for key, value in records:
        send_json(prod, topic, key, value)
        prod.poll(0)
    left = prod.flush(60)
    if left:
        raise AssertionError(f"{left} fills still undelivered after 60s")
    return time.monotonic() - began


def group_lags(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """Return partition → records of ``topic`` the consumer group has not committed yet.

    Reads the group's committed offsets without joining it, so the worker's
    membership is untouched. A partition with no commit counts in full.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "log_level": 2,
        }
    )
    try:
        partitions = [TopicPartition(topic, p) for p in range(partition_count(bootstrap, topic))]
        lags = {}
        for committed in consumer.committed(partitions, timeout=10):
            _low, high = consumer.get_watermark_offsets(committed, timeout=10)
            lags[committed.partition] = high - max(committed.offset, 0)
        return lags
    finally:
        consumer.close()


def group_lag(bootstrap: str, group: str, topic: str) -> int:
    """Return how many records of ``topic`` the consumer group has not committed yet."""
    return sum(group_lags(bootstrap, group, topic).values())


def wait_until_consumed(bootstrap: str, group: str, topic: str, timeout: float) -> float:
    """Poll until the group has committed every record of ``topic``; return seconds taken.

    faust commits an offset only once its event was processed, so after this
    the worker's state holds every record sent before the call.
    """
    began = time.monotonic()

    def all_committed() -> bool:
        lags = group_lags(bootstrap, group, topic)
        assert not any(lags.values()), f"uncommitted records by partition: {lags}"
        return True

    eventually(
        all_committed,
        timeout=timeout,
        interval=0.5,
        message=f"group {group} committed every record of {topic}",
    )
    return time.monotonic() - began
