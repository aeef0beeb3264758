"""``spacewatch doctor``: one line per check of a deployment."""

from __future__ import annotations

import sys

import click
from rich.text import Text

from ..doctor import FAIL, WARN, Check, run_checks
from ..records import plural
from .context import Context, out, pass_ctx

_LABELS = {FAIL: ("FAIL", "bold red"), WARN: ("warn", "yellow")}


@click.command()
@click.option("--offline", is_flag=True, help="Do not contact the feeds.")
@pass_ctx
def doctor(ctx: Context, offline: bool) -> None:
    """Check a deployment, one line per check: feeds.yaml valid, gazetteer valid, NLP model
    loads (and how long it takes), seeds found, database writable with a current schema,
    disk space beside it, the daemon's lock, and each enabled feed reachable (GET with
    short timeouts, concurrently; --offline skips them).

    Only looks: nothing is created, migrated or stored. Exit code 1 when any check failed
    (a warning is no failure).
    """
    checks: list[Check] = []
    for check in run_checks(ctx.config_path, ctx.db_path, offline=offline):
        checks.append(check)
        label, style = _LABELS.get(check.status, ("ok", "green"))
        out.print(Text.assemble((f"{label:<5}", style), f"{check.name:<12} ", check.detail))
        for note in check.notes:
            out.print(Text(f"{'':<5}{'':<12} {note}", style="dim"))
    failures = sum(1 for check in checks if check.failed)
    warnings = sum(1 for check in checks if check.status == WARN)
    summary = (f"{plural(len(checks), 'check')}: {failures} failed, "
               f"{plural(warnings, 'warning')}")
    out.print(Text(summary, style="bold red" if failures else "bold"))
    if failures:
        sys.exit(1)
