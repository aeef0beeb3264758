"""Commands that run SpaceWatch as a service: ``run`` (the daemon), ``digest``, ``demo``."""

from __future__ import annotations

import dataclasses
import logging
import logging.handlers
import os
import sys
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from click.core import ParameterSource
from rich.table import Table
from rich.text import Text

from ..alerts import deliver_due
from ..config import AlertRule, Config, Settings, check_nlp_model, check_url
from ..demo import DemoServer, demo_config
from ..digest import build_digest, deliver_digest, last_digest_until, parse_since, write_digest
from ..errors import SpaceWatchError
from ..ingest import run_pass
from ..records import NOT_MODIFIED, iso, now_utc, plural
from ..resources import bundled_seeds_dir
from ..store import Store
from ..store.alerts import outbox_rows
from ..store.reports import check_not_future
from ..store.stories import StoryRow
from .context import Context, check_date, err, out, pass_ctx
from .journal import JournalFormatter, stderr_is_journal
from .render import cell, feed_progress, print_pass


@click.command()
@click.option("--out", "out_dir", default="demo-output", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the demo database.")
@click.option("--full-text/--no-full-text", default=True, show_default=True,
              help="Fetch and extract the sample article pages.")
@click.option("--webhook", metavar="URL", default=None,
              help="Also alert: one alert rule (name 'demo', every seed) posting each story "
                   "that qualifies to this webhook, delivered before the demo exits.")
@click.option("--min-score", type=click.FloatRange(0.0, 1.0), default=None,
              help="The --webhook rule's minimum score [default: settings.match_threshold].")
@pass_ctx
def demo(ctx: Context, out_dir: str, full_text: bool, webhook: str | None,
         min_score: float | None) -> None:
    """Run the whole pipeline offline on the bundled sample feeds.

    Serves the sample feeds and article pages from a local HTTP server on 127.0.0.1,
    fetches them into a fresh demo database and shows what was stored. With --webhook, each
    demo story with a match of at least --min-score is posted there as an alert (the
    payload of feeds.yaml's `alerts:`), once, and the demo says how many were sent.
    """

    if min_score is not None and webhook is None:
        raise SpaceWatchError("--min-score is the --webhook rule's minimum: give --webhook "
                              "URL too")
    rules = (demo_alert_rule(webhook, min_score, ctx.settings()),) if webhook else ()
    check_nlp_model(ctx.settings())
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    settings = ctx.settings()
    if not Path(settings.seeds_dir).is_dir():  # run from elsewhere: the project's own seeds


        settings = dataclasses.replace(settings, seeds_dir=str(bundled_seeds_dir()))
    with DemoServer() as server:
        config = dataclasses.replace(demo_config(server, settings, full_text=full_text),
                                     alerts=rules)
        out.print(f"demo: serving {len(config.feeds)} sample feeds from {server.url}")
        with Store(db_path) as store:
            with feed_progress(len(config.feeds)) as progress:
                report = run_pass(store, config, progress=progress)
            print_pass(report)
            with feed_progress(len(config.feeds), "second pass") as progress:
                again = run_pass(store, config, progress=progress)
            out.print(f"second pass: {again.new} new, {again.updated} updated, "
                      f"{sum(1 for f in again.feeds if f.outcome == NOT_MODIFIED)} "
                      "feeds answered 304 Not Modified")
            delivery = _deliver_demo_alerts(store, config) if rules else None
            top = store.top_entities(limit=12)
            events = store.top_events(5)
            story_rows = [row for row, _best in store.list_stories(limit=10_000)]
    table = Table(title="entities found in the sample feeds", title_justify="left")
    for col in ("entity", "kind", "mentions", "articles"):
        table.add_column(col)
    for row in top:
        table.add_row(cell(row["name"]), cell(row["kind"]), cell(row["mentions"]),
                      cell(row["articles"]))
    out.print(table)
    out.print(Text("top matches for the seed stories", "bold"))
    for event in events:
        ex = event.explanation
        out.print(Text.assemble(f"  {event.score:.2f}  {event.title}  ",
                                (f"({event.feed})", "dim")))
        out.print("        entities: " + ", ".join(e.name for e in ex.entities[:5])
                  + "; phrases: " + (", ".join(p.phrase for p in ex.phrases) or "-"))
        if ex.evidence:
            sentence = ex.evidence[0]
            short = sentence if len(sentence) <= 160 else sentence[:159].rsplit(" ", 1)[0] + "…"
            out.print(f"        evidence: “{short}”")
    _print_demo_stories(story_rows)


    with Store(db_path) as store:
        # A digest lists what was found on its day: every demo match was found today (its
        # articles were published over ten days, so most entries are marked late matches).
        digest_path = write_digest(store, folder / "digests", now_utc().date(), "UTC")
    out.print(f"demo digest: {digest_path} (and {digest_path.with_suffix('.md')})")
    out.print(f"demo database: {db_path}")
    if delivery is not None:
        line, complete = delivery
        out.print(line)
        if not complete:
            sys.exit(1)


def demo_alert_rule(url: str, min_score: float | None, settings: Settings) -> AlertRule:
    """The rule ``demo --webhook URL`` adds: name ``demo``, every seed, ``min_score`` (or
    settings.match_threshold). A URL that is not http(s) is a :class:`ConfigError`."""
    return AlertRule(name="demo", seeds=("*",), channel="webhook",
                     min_score=settings.match_threshold if min_score is None else min_score,
                     webhook=check_url(url, "--webhook"))


def _deliver_demo_alerts(store: Store, config: Config) -> tuple[Text, bool]:
    """Send what the demo's passes queued (bounded as ``fetch`` is); the line to print
    (``alerts: 5 sent to URL``) and whether every alert was delivered."""
    from .alerts import CLI_DELIVERY_SECONDS

    (rule,) = config.alerts
    counts = deliver_due(store, config, deadline=time.monotonic() + CLI_DELIVERY_SECONDS)
    line = Text(f"alerts: {counts.sent} sent to {rule.target}")
    left = counts.waiting
    if left:
        errors = [r.last_error for r in outbox_rows(store, state="pending", limit=1)
                  if r.last_error]
        line.append(f"; {left} not delivered" + (f" ({errors[0]})" if errors else "")
                    + f", still pending in the demo database (spacewatch --db "
                      f"{store.path} alerts list)")
    return line, not left


def _print_demo_stories(rows: list[StoryRow], limit: int = 8) -> None:
    """The demo's largest stories: id, headline, "N articles, M outlets, languages"."""
    out.print(Text(f"stories: {len(rows)} (the largest; spacewatch story ID shows one)",
                   "bold"))
    for row in sorted(rows, key=lambda r: (-r.article_count, r.id))[:limit]:
        out.print(Text.assemble(f"  {row.id:>3}  {row.headline}  ",
                                (f"({plural(row.article_count, 'article')}, "
                                 f"{plural(row.outlet_count, 'outlet')}, "
                                 f"{', '.join(row.languages) or '-'})", "dim")))


@click.command()
@click.option("--digest-dir", type=click.Path(file_okay=False), default=None,
              help="Where the daily digests go (default: settings.digest_dir, ./digests).")
@click.option("--digest-now", is_flag=True, help="Also write yesterday's digest at start-up.")
@pass_ctx
def run(ctx: Context, digest_dir: str | None, digest_now: bool) -> None:
    """Run SpaceWatch as a background daemon (APScheduler): every feed on its interval,
    full text, entities and matching after each fetch, and the daily digest.

    One daemon per database (a lock next to it). SIGTERM or Ctrl-C stops it within a few
    seconds, cancelling fetches in flight (not counted as feed failures); SIGHUP or an edit
    of feeds.yaml reloads the feeds and logs what changed. One log line per fetch and one
    per stage run go to stderr (and to settings.log_file, rotated, when set).
    """

    from ..daemon import Daemon, DaemonOptions

    config = ctx.config
    check_nlp_model(config.settings)
    stamped = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    stderr = logging.StreamHandler(sys.stderr)
    # Under systemd, journald stamps each line itself and reads its level from a <N> prefix.
    stderr.setFormatter(JournalFormatter() if stderr_is_journal() else stamped)
    handlers: list[logging.Handler] = [stderr]
    if config.settings.log_file:
        handlers.append(logging.handlers.RotatingFileHandler(
            config.settings.log_file, maxBytes=5_000_000, backupCount=5))
        handlers[-1].setFormatter(stamped)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("apscheduler", "httpx", "httpcore", "trafilatura", "htmldate", "pymorphy3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The daemon logs a job's error itself: one line for a SpaceWatch error, a traceback for
    # a bug (APScheduler would print a traceback for both).
    logging.getLogger("apscheduler.executors").setLevel(logging.CRITICAL)
    options = DaemonOptions(config_path=ctx.config_path, db_path=ctx.db_path,
                            digest_dir=Path(digest_dir) if digest_dir else None,
                            run_digest_now=digest_now)
    daemon = Daemon(options)
    code = daemon.run()
    if daemon.abandoned:
        # A job that outlived the stop (a connection still being made, a long NER batch)
        # would hold the interpreter's exit until it ends: leave without it. What it had
        # committed stays; its open transaction rolls back.

        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)
    sys.exit(code)


@click.command()
@click.option("--date", "day", metavar="YYYY-MM-DD",
              help="The day to report (default: today in settings.digest_timezone).")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json", "text"]),
              default="md", show_default=True,
              help="Markdown for the terminal, HTML for a browser or e-mail, plain text, "
                   "JSON for other tools.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of stdout.")
@click.option("--since", "since", metavar="WHEN", default=None,
              help="Every story with a match found since WHEN instead of one day: an ISO date "
                   "(from 00:00), a date and time (settings.digest_timezone unless it has an "
                   "offset), or 'last' (since the last digest written or e-mailed).")
@click.option("--email", "email", is_flag=True,
              help="E-mail the day's digest (HTML and plain text) to settings.smtp.to now, "
                   "once; every attempt is recorded and shown by 'spacewatch status'.")
@pass_ctx
def digest(ctx: Context, day: str | None, fmt: str, out_path: str | None, since: str | None,
           email: bool) -> None:
    """Render a day's digest: one entry per story with a match found that day (whenever
    it was published), by seed; actors on the move, a 30-day chart of matches, and feed
    health. A day with no data says so; a day after today is refused.

    Days are calendar days in settings.digest_timezone. --since lists everything found
    since a moment instead. With --email the digest is sent (or sent again) instead of
    printed, and a failure exits non-zero.
    """


    settings = ctx.settings()
    if since is not None and (day or email):
        raise SpaceWatchError("--since lists what was found since a moment: use it without "
                              "--date and --email")
    if since is not None:
        _digest_since(ctx, since, fmt, out_path)
        return
    if day:
        check_date(day)
        when = date.fromisoformat(day)
    else:
        when = datetime.now(ZoneInfo(settings.digest_timezone)).date()

    check_not_future(when, ZoneInfo(settings.digest_timezone))
    if not ctx.db_path.exists():
        raise SpaceWatchError(f"{ctx.db_path}: no database yet (run 'spacewatch fetch' first)")
    if email:

        given = click.get_current_context().get_parameter_source("fmt")
        if out_path or given != ParameterSource.DEFAULT:
            raise SpaceWatchError("--email sends the HTML and plain-text digest: use it "
                                  "without --out and --format")

        with ctx.store() as store:
            delivery = deliver_digest(store, settings, when, delays=())
        err.print(Text(f"digest for {when.isoformat()} e-mailed to {delivery.recipients}"))
        return
    if out_path and not Path(out_path).absolute().parent.is_dir():
        raise SpaceWatchError(f"--out {out_path}: the folder {Path(out_path).parent} does not "
                              "exist (create it first)")
    with ctx.reader() as store:
        text = build_digest(store, when, fmt, settings.digest_timezone)
    _emit(text, out_path, f"digest for {when.isoformat()}")


def _digest_since(ctx: Context, since: str, fmt: str, out_path: str | None) -> None:
    """``digest --since WHEN``: every story with a match found since WHEN."""
    settings = ctx.settings()
    moment = None if since.strip() == "last" else parse_since(since,
                                                               settings.digest_timezone)
    if not ctx.db_path.exists():
        raise SpaceWatchError(f"{ctx.db_path}: no database yet (run 'spacewatch fetch' first)")
    if out_path and not Path(out_path).absolute().parent.is_dir():
        raise SpaceWatchError(f"--out {out_path}: the folder {Path(out_path).parent} does not "
                              "exist (create it first)")
    with ctx.reader() as store:
        if moment is None:
            moment = last_digest_until(store)
            if moment is None:
                raise SpaceWatchError("--since last: no digest has been written or e-mailed "
                                      "yet (give a date instead: --since 2025-07-16)")
        text = build_digest(store, moment.date(), fmt, settings.digest_timezone,
                            since=moment)
    _emit(text, out_path, f"digest of what was found since {iso(moment)}")


def _emit(text: str, out_path: str | None, what: str) -> None:
    if out_path:
        try:
            Path(out_path).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise SpaceWatchError(f"--out {out_path}: cannot write the digest: "
                                  f"{exc.strerror or exc}") from None
        err.print(f"{what} written to {out_path}")
    else:
        click.echo(text)

