"""Digest deliveries: one row per attempt to send a day's digest (today only by e-mail).

Every attempt is recorded, failed ones too, so ``spacewatch status`` can say that this
morning's e-mail never left and ``spacewatch digest --email --date D`` can resend it; the
rows are a log, never updated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import Store


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver the digest of ``day`` (a local date, YYYY-MM-DD)."""

    id: int
    day: str
    channel: str  # "email"
    recipients: str  # comma-separated addresses
    attempted_at: str  # UTC ISO
    ok: bool
    error: str | None
    attempt: int  # 1 for the first try of a delivery, 2 for its first retry …


def record_delivery(store: Store, day: date, channel: str, recipients: Sequence[str],
                    attempted_at: str, ok: bool, error: str | None, attempt: int) -> Delivery:
    """Append one attempt (in its own transaction, so a crash later keeps it)."""
    with store.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO deliveries (day, channel, recipients, attempted_at, ok, error, "
            "attempt) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (day.isoformat(), channel, ", ".join(recipients), attempted_at, int(ok), error,
             attempt))
        row_id = int(cur.lastrowid or 0)
    return Delivery(id=row_id, day=day.isoformat(), channel=channel,
                    recipients=", ".join(recipients), attempted_at=attempted_at, ok=ok,
                    error=error, attempt=attempt)


def last_delivery(store: Store, channel: str = "email") -> Delivery | None:
    """The latest attempt on ``channel``, or None (also for a database from before
    deliveries were recorded, opened without migrating)."""
    if not _has_table(store):
        return None
    rows = store.rows("SELECT * FROM deliveries WHERE channel = ? ORDER BY id DESC LIMIT 1",
                      [channel])
    return _delivery(rows[0]) if rows else None


def deliveries_of(store: Store, day: date, channel: str = "email") -> tuple[Delivery, ...]:
    """Every attempt to deliver the digest of ``day``, oldest first."""
    if not _has_table(store):
        return ()
    return tuple(_delivery(r) for r in store.rows(
        "SELECT * FROM deliveries WHERE day = ? AND channel = ? ORDER BY id",
        [day.isoformat(), channel]))


def _has_table(store: Store) -> bool:
    return bool(store.scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                             "AND name = 'deliveries'"))


def _delivery(r: dict[str, Any]) -> Delivery:
    return Delivery(id=r["id"], day=r["day"], channel=r["channel"], recipients=r["recipients"],
                    attempted_at=r["attempted_at"], ok=bool(r["ok"]), error=r["error"],
                    attempt=r["attempt"])
