"""``spacewatch alerts test SEED`` and ``alerts list``, and the one line the one-shot
commands (``fetch``, ``import``, ``rematch``) print after delivering what they queued."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime

import click
from rich.table import Table
from rich.text import Text

from ..alerts import DeliveryCounts, deliver_due, send_tests
from ..config import Config
from ..records import plural
from ..seeds import load_seeds
from ..store import Store
from ..store.alerts import AlertSummary, outbox_rows
from .context import Context, Limit, err, out, pass_ctx
from .render import cell, new_table, short_time

#: How long ``fetch`` / ``import`` / ``rematch`` go on starting sends before they exit;
#: what is left stays pending for the next run (or the daemon).
CLI_DELIVERY_SECONDS = 20.0


def deliver_before_exit(store: Store, config: Config) -> Text | None:
    """Deliver the due alerts within :data:`CLI_DELIVERY_SECONDS`; the line to print, or
    None when there was nothing to deliver."""
    counts = deliver_due(store, config, deadline=time.monotonic() + CLI_DELIVERY_SECONDS)
    return delivery_line(counts)


def delivery_line(counts: DeliveryCounts, now: datetime | None = None) -> Text | None:
    """``alerts: 2 sent, 1 waiting (retry at 14:05)``; None when nothing happened."""
    if not (counts.sent or counts.failed or counts.waiting):
        return None
    parts = [f"{counts.sent} sent"]
    if counts.gave_up:
        parts.append(f"{counts.gave_up} failed for good (see spacewatch alerts list)")
    if counts.waiting:
        when = short_time(counts.next_attempt_at, now or datetime.now(UTC))
        parts.append(f"{counts.waiting} waiting (retry at {when})")
    return Text("alerts: " + ", ".join(parts))


def summary_lines(summary: AlertSummary | None, now: datetime) -> list[Text]:
    """What ``status`` says about the outbox: counts, then each recent failure."""
    if summary is None:
        return []
    head = Text(f"alerts: {summary.delivered} delivered, {summary.pending} pending")
    if summary.pending and summary.next_attempt_at:
        head.append(f" (next attempt {short_time(summary.next_attempt_at, now)})")
    if summary.failed:
        head.append(", ")
        head.append(f"{summary.failed} FAILED", style="bold red")
    lines = [head]
    for row in summary.failures:
        lines.append(Text(f"  alert {row.idempotency_key} ({row.channel}) failed after "
                          f"{plural(row.attempts, 'attempt')}: {row.last_error or '?'}"))
    return lines


@click.group()
def alerts() -> None:
    """Alert rules (feeds.yaml `alerts:`): send a test alert, list the outbox."""


@alerts.command(name="test")
@click.argument("seed")
@pass_ctx
def test_(ctx: Context, seed: str) -> None:
    """Send a sample alert ("test": true) to the channel of every rule that follows SEED,
    and print how each went. Exit code 1 when any send failed. Nothing is stored."""
    config = ctx.config
    known = [s.id for s in load_seeds(config.seeds_folder).seeds]
    if seed not in known:
        err.print(Text.assemble(("warning:", "yellow"), f" no seed with id {seed!r} in "
                                f"{config.seeds_folder} (seeds: {', '.join(known) or 'none'});"
                                " sending the sample anyway"))
    failed = 0
    for rule, outcome in send_tests(config, seed):
        line = Text(f"{rule.name} ({rule.channel} {rule.target}): ")
        if outcome.ok:
            line.append("sent", style="green")
            line.append(f" ({outcome.status}, {outcome.duration_ms} ms)")
        else:
            failed += 1
            line.append("FAILED", style="bold red")
            line.append(f": {outcome.status}" + (f": {outcome.detail}" if outcome.detail
                                                 else ""))
        out.print(line)
        if rule.secret_env and rule.channel == "webhook" and \
                not os.environ.get(rule.secret_env):
            out.print(Text(f"  note: {rule.secret_env} is not set, so the body was not "
                           "signed", style="yellow"))
    if failed:
        sys.exit(1)


@alerts.command(name="list")
@click.option("--state", type=click.Choice(["pending", "delivered", "failed"]),
              help="Only alerts in this state.")
@click.option("--limit", default=30, show_default=True, type=Limit(),
              help="How many alerts (the newest first).")
@pass_ctx
def list_(ctx: Context, state: str | None, limit: int) -> None:
    """List the alert outbox, newest first: state, attempts, next attempt, last error."""
    with ctx.reader() as store:
        rows = outbox_rows(store, state=state, limit=limit)
    now = datetime.now(UTC)
    if not rows:
        out.print("no alerts" + (f" in state {state}" if state else "") + " yet")
        return
    table: Table = new_table("alerts")
    for name in ("key", "state", "tries", "next", "last error / reason"):
        table.add_column(name, justify="right" if name == "tries" else "left",
                         overflow="fold")
    for row in rows:
        style = {"failed": "bold red", "delivered": "green"}.get(row.state, "yellow")
        nxt = short_time(row.next_attempt_at, now) if row.state == "pending" else \
            short_time(row.delivered_at, now) if row.delivered_at else "-"
        table.add_row(cell(row.idempotency_key), Text(row.state, style=style),
                      cell(row.attempts), cell(nxt), cell(row.last_error or row.reason))
    out.print(table)
