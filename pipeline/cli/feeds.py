"""Commands for the feeds: ``init``, ``fetch``, ``status``."""

from __future__ import annotations

import sys

import click
from rich.text import Text

from ..config import check_nlp_model
from ..errors import SpaceWatchError
from ..ingest import register_feeds, run_pass
from ..records import plural
from ..seeds import PROBLEMS_META_KEY, problems_from_json
from ..store.alerts import alert_summary
from ..store.deliveries import last_delivery
from .alerts import deliver_before_exit, summary_lines
from .context import Context, out, pass_ctx, warn_seeds
from .render import delivery_text, errors_table, feed_progress, print_pass, short_time, status_table


@click.command()
@pass_ctx
def init(ctx: Context) -> None:
    """Create (or migrate) the database and register the configured feeds."""
    config = ctx.config

    with ctx.store() as store:
        register_feeds(store, config)
        out.print(f"database {ctx.db_path} ready (schema version {store.schema_version}); "
                  f"{plural(len(config.feeds), 'feed')} configured")


@click.command()
@click.option("--feed", "feeds", multiple=True, metavar="NAME",
              help="Fetch only this feed (repeatable).")
@click.option("--force", is_flag=True, help="Ignore backoff and the disabled flag.")
@pass_ctx
def fetch(ctx: Context, feeds: tuple[str, ...], force: bool) -> None:
    """Fetch every enabled feed once, store new articles, then run the later stages.

    Feeds inside their backoff window (after failures) or disabled are skipped unless
    --force. Exit code: 0 when every feed was fetched (or unchanged, or skipped), 1 when
    any feed failed, 2 when nothing could run (a usage, configuration or database error).
    """
    config = ctx.config
    for name in feeds:
        config.feed(name)
    check_nlp_model(config.settings)  # before anything is fetched or stored
    total = len(feeds) if feeds else sum(1 for f in config.feeds if f.enabled)
    warn_seeds(config)
    with ctx.store() as store:
        with feed_progress(total) as progress:
            report = run_pass(store, config, only=feeds or None, force=force,
                              progress=progress)
        alerts_line = deliver_before_exit(store, config)  # what this pass queued, at once
    print_pass(report)
    if alerts_line is not None:
        out.print(alerts_line)
    if report.failed:
        sys.exit(1)


@click.command()
@pass_ctx
def status(ctx: Context) -> None:
    """Show each feed's last fetch, result, next fetch and articles, then its problems.

    Times are in this machine's time zone: 14:05 today, 11-30 14:05 earlier this year.
    """
    if not ctx.db_path.exists():
        raise SpaceWatchError(f"{ctx.db_path}: no database yet (run 'spacewatch fetch')")
    from ..daemon import daemon_status

    with ctx.reader() as store:
        rows = store.feed_status()
        daemon = daemon_status(store, ctx.db_path)
        delivery = last_delivery(store)
        moves = store.feed_moves()
        seed_problems = problems_from_json((store.get_meta(PROBLEMS_META_KEY) or {}).get("value"))
        alert_lines = summary_lines(alert_summary(store), daemon["now"])
    now = daemon["now"]
    beat = short_time(daemon["heartbeat"], now) if daemon["heartbeat"] else None
    if daemon["running"]:
        out.print(Text.assemble("daemon: ", ("running", "bold green"),
                                f" (pid {daemon['pid']}), last heartbeat {beat or 'none yet'}"))
    else:
        out.print("daemon: not running" + (f" (last heartbeat {beat})" if beat else ""))
    if daemon["config_error"]:
        out.print(Text.assemble(("feeds.yaml reload failed, last good configuration in force:",
                                 "red"), f" {daemon['config_error']}"))
    out.print(status_table(rows, daemon["schedule"], now, f"feeds in {ctx.db_path}"))
    for move in moves:  # fetched at the new URL meanwhile; feeds.yaml should say so
        out.print(Text.assemble(f"feed {move['name']} ", ("moved permanently", "yellow"),
                                f" to {move['moved_to']}: update feeds.yaml (it still says "
                                f"{move['url']})"))
    for problem in seed_problems:  # as of the last matching run
        out.print(Text.assemble(("seed skipped:", "yellow"), f" {problem}"))
    if delivery is not None:
        out.print(delivery_text(delivery, now))
    for line in alert_lines:  # the alert outbox: pending and failed alerts
        out.print(line)
    if daemon["recent_errors"]:
        out.print(errors_table(daemon["recent_errors"], now))

