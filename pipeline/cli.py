"""The ``spacewatch`` command line: the only module that prints.

Library errors (:class:`SpaceWatchError`) become one line on stderr and a non-zero exit code;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from . import __version__
from .cli_render import (
    ProgressLines,
    cell,
    errors_table,
    pass_summary,
    pass_table,
    short_time,
    stats_parts,
    status_table,
)
from .config import Config, Settings, check_nlp_model, load_config
from .errors import SpaceWatchError
from .ingest import FeedReport, PassReport, run_pass
from .store import Store, damaged_db_message, is_damaged

# markup=False: nothing printed is ever read as console markup, so a stored title such as
# "[caption id=1]" prints as written. Program text that wants a style says so with
# rich.text.Text (Text.assemble(("error:", "bold red"), " ...")).
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
#: The --db of this run, for the last-resort message about a damaged database file.
_db_path_in_use: Path | None = None


def _utf8_output() -> None:
    """Print non-ASCII text as UTF-8 even under an ASCII (C/POSIX) locale; a character
    the terminal's encoding cannot show becomes '?' instead of a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None or encoding.startswith("utf"):
            continue
        if encoding in ("ascii", "ansi_x3.41968", "usascii", ""):
            reconfigure(encoding="utf-8", errors="replace")
        else:
            reconfigure(errors="replace")


class Context:
    """Global options, resolved once at the edge and passed in."""

    def __init__(self, db: str, config: str, verbose: bool) -> None:
        self.db_path = Path(db)
        self.config_path = Path(config)
        self.verbose = verbose
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def settings(self) -> Settings:
        """The configured settings, or the defaults when there is no feeds.yaml."""
        return self.pipeline_config().settings

    def pipeline_config(self) -> Config:
        """The configuration, or the defaults with no feeds when there is no feeds.yaml
        (``analyze``, ``import`` and friends work without one)."""
        if self.config_path.exists():
            return self.config
        return Config(feeds=(), settings=Settings())

    def store(self) -> Store:
        """Open (creating or migrating) the database; says so on stderr when its folder had
        to be created."""
        store = Store(self.db_path)
        if store.created_folder is not None:
            err.print(f"created folder {store.created_folder} for the database")
        return store

    def reader(self) -> Store:
        """Open the database read-only (``status``, ``digest``): no migration, no file
        created, so it works on a read-only file system; an older schema is an error."""
        return Store(self.db_path, readonly=True)


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", default=lambda: os.environ.get("SPACEWATCH_DB", "spacewatch.db"),
              show_default="./spacewatch.db or $SPACEWATCH_DB", metavar="PATH",
              help="SQLite database file.")
@click.option("--config", "config", default="feeds.yaml", show_default=True, metavar="PATH",
              help="Feed list and settings.")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details to stderr.")
@click.version_option(__version__, prog_name="spacewatch")
@click.pass_context
def cli(ctx: click.Context, db: str, config: str, verbose: bool) -> None:
    """SpaceWatch: news monitoring for space diplomacy.

    Fetches the feeds in feeds.yaml, finds the agencies, officials, crews and programs
    they mention, scores every article against the seed stories in seeds/, and keeps the
    result as a queryable event log in SQLite.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        out.width = int(columns)  # COLUMNS=80 spacewatch status: tables fit 80 columns
    elif not out.is_terminal:
        out.width = 180  # piped output: wide tables rather than folded cells
    global _db_path_in_use
    _db_path_in_use = Path(db)
    ctx.obj = Context(db, config, verbose)


def main() -> None:
    """Console-script entry point.

    Exit codes: 0 done; 1 done, but some inputs failed (a feed, a bad input line); 2 nothing
    done: a usage, configuration, input or database error (one line on stderr); 130 Ctrl-C.
    """
    _utf8_output()
    try:
        cli.main(standalone_mode=False, prog_name="spacewatch")
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SpaceWatchError as exc:
        err.print(Text.assemble(("error:", "bold red"), f" {exc}"))
        sys.exit(2)
    except sqlite3.DatabaseError as exc:
        # Last resort: the Store turns a damaged file into a StoreError where it can.
        if not is_damaged(exc):
            raise
        err.print(Text.assemble(("error:", "bold red"), " " + damaged_db_message(
            _db_path_in_use or "the database")))
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


# -- helpers -------------------------------------------------------------------------------


@contextmanager
def feed_progress(total: int, label: str = "fetching") -> Iterator[Any]:
    """Progress on stderr: a live bar on a terminal; elsewhere (a log, cron) an occasional
    line such as ``entities: 400/2000 articles (20%)``."""
    terminal = err.is_terminal
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("{task.fields[last]}", markup=False),
                        TimeElapsedColumn(), console=err, transient=True,
                        disable=not terminal)
    lines = ProgressLines(lambda line: err.print(line))
    lines.start(label, total)
    with progress:
        task = progress.add_task(label, total=total, last="")

        def update(event: str, item: FeedReport | None) -> None:
            if event == "feed" and item is not None:
                progress.update(task, advance=1, last=item.feed)
                if not terminal:
                    lines.advance(1)
            elif event == "advance" and isinstance(item, int):
                progress.update(task, advance=item)
                if not terminal:
                    lines.advance(item)
            elif event.startswith("stage:"):
                total = item if isinstance(item, int) else None
                stage = event.split(":", 1)[1]
                progress.reset(task, total=total, description=stage, last="")
                lines.start(stage, total)

        yield update


def warn_seeds(config: Config, *, matching: bool = True) -> None:
    """Name each seed file that is skipped, with the reason (and, before matching, say so
    when no seed loaded at all): once per command, on stderr; the command goes on."""
    from .seeds import load_seeds
    from .stages import seeds_folder

    for line in load_seeds(seeds_folder(config)).warnings(matching=matching):
        err.print(Text.assemble(("warning:", "yellow"), f" {line}"))


def print_pass(report: PassReport) -> None:
    """The per-feed table after a pass (notes under it), then one summary line."""
    out.print(pass_table(report))
    out.print(pass_summary(report))


# -- commands ------------------------------------------------------------------------------


@cli.command()
@pass_ctx
def init(ctx: Context) -> None:
    """Create (or migrate) the database and register the configured feeds."""
    config = ctx.config
    from .fetch import now_utc
    from .normalize import iso

    with ctx.store() as store:
        store.sync_feeds(config.feeds, config.settings.full_text, iso(now_utc()))
        out.print(f"database {ctx.db_path} ready (schema version {store.schema_version}); "
                  f"{len(config.feeds)} feeds configured")


@cli.command()
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
    with ctx.store() as store, feed_progress(total) as progress:
        report = run_pass(store, config, only=feeds or None, force=force, progress=progress)
    print_pass(report)
    if report.failed:
        sys.exit(1)


@cli.command()
@pass_ctx
def status(ctx: Context) -> None:
    """Show each feed's last fetch, result, next fetch and articles, then its problems.

    Times are in this machine's time zone: 14:05 today, 11-30 14:05 earlier this year.
    """
    if not ctx.db_path.exists():
        raise SpaceWatchError(f"{ctx.db_path}: no database yet (run 'spacewatch fetch')")
    from .daemon import daemon_status
    from .seeds import PROBLEMS_META_KEY, problems_from_json
    from .store.deliveries import last_delivery

    with ctx.reader() as store:
        rows = store.feed_status()
        daemon = daemon_status(store, ctx.db_path)
        delivery = last_delivery(store)
        moves = store.feed_moves()
        seed_problems = problems_from_json((store.get_meta(PROBLEMS_META_KEY) or {}).get("value"))
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
    if daemon["recent_errors"]:
        out.print(errors_table(daemon["recent_errors"], now))


def delivery_text(delivery: Any, now: Any) -> Text:
    """The last attempt to e-mail a digest (a ``Delivery``): its day, recipients, time and
    result; a failed one says how to resend it. Stored text is never read as markup."""
    head = f"last digest e-mail: {delivery.day} to {delivery.recipients}: "
    when = f" at {short_time(delivery.attempted_at, now)} (attempt {delivery.attempt})"
    if delivery.ok:
        return Text.assemble(head, ("sent", "green"), when)
    return Text.assemble(head, ("FAILED", "bold red"), f"{when}: {delivery.error}\n"
                         f"  resend with: spacewatch digest --email --date {delivery.day}")


@cli.command()
@click.option("--out", "out_dir", default="demo-output", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the demo database.")
@click.option("--full-text/--no-full-text", default=True, show_default=True,
              help="Fetch and extract the sample article pages.")
@pass_ctx
def demo(ctx: Context, out_dir: str, full_text: bool) -> None:
    """Run the whole pipeline offline on the bundled sample feeds.

    Serves the sample feeds and article pages from a local HTTP server on 127.0.0.1,
    fetches them into a fresh demo database and shows what was stored.
    """
    from .demo import DemoServer, demo_config

    check_nlp_model(ctx.settings())
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    settings = ctx.settings()
    if not Path(settings.seeds_dir).is_dir():  # run from elsewhere: the project's own seeds
        import dataclasses

        from .gazetteer import MODELS_DIR

        settings = dataclasses.replace(settings, seeds_dir=str(MODELS_DIR.parent / "seeds"))
    with DemoServer() as server:
        config = demo_config(server, settings, full_text=full_text)
        out.print(f"demo: serving {len(config.feeds)} sample feeds from {server.url}")
        with Store(db_path) as store:
            with feed_progress(len(config.feeds)) as progress:
                report = run_pass(store, config, progress=progress)
            print_pass(report)
            with feed_progress(len(config.feeds), "second pass") as progress:
                again = run_pass(store, config, progress=progress)
            out.print(f"second pass: {again.new} new, {again.updated} updated, "
                      f"{sum(1 for f in again.feeds if f.outcome == 'not_modified')} "
                      "feeds answered 304 Not Modified")
            top = store.top_entities(limit=12)
            events = store.top_events(5)
    table = Table(title="entities found in the sample feeds", title_justify="left")
    for col in ("entity", "kind", "mentions", "articles"):
        table.add_column(col)
    for row in top:
        table.add_row(cell(row["name"]), cell(row["kind"]), cell(row["mentions"]),
                      cell(row["articles"]))
    out.print(table)
    out.print(Text("top matches for the seed stories", "bold"))
    for row in events:
        ex = row["explanation"]
        out.print(Text.assemble(f"  {row['score']:.2f}  {row['title']}  ",
                                (f"({row['feed']})", "dim")))
        out.print("        entities: " + ", ".join(e["name"] for e in ex["entities"][:5])
                  + "; phrases: " + (", ".join(p["phrase"] for p in ex["phrases"]) or "-"))
        if ex["evidence"]:
            sentence = ex["evidence"][0]
            short = sentence if len(sentence) <= 160 else sentence[:159].rsplit(" ", 1)[0] + "…"
            out.print(f"        evidence: “{short}”")
    from datetime import UTC, datetime

    from .digest import write_digest

    with Store(db_path) as store:
        # The demo's stories span ten days: report the latest day that has matches.
        latest = store.latest_event_published()
        day = (datetime.fromisoformat(latest.replace("Z", "+00:00")).date() if latest
               else datetime.now(UTC).date())
        digest_path = write_digest(store, folder / "digests", day, "UTC")
    out.print(f"demo digest: {digest_path} (and {digest_path.with_suffix('.md')})")
    out.print(f"demo database: {db_path}")


# -- entities (NER) ------------------------------------------------------------------------


def _read_jsonl(path: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, record or None, error or None) for each non-blank line of a JSONL file
    (see :func:`pipeline.inputs.read_jsonl`: BOMs, UTF-16 and binary input are handled)."""
    from .inputs import read_jsonl

    return read_jsonl(path)


@cli.command()
@click.option("--jsonl", "jsonl", metavar="FILE",
              help="One JSON object per line with 'text' (and optional id, title, url, "
                   "published); '-' for stdin. Without it, stdin is one text.")
@pass_ctx
def analyze(ctx: Context, jsonl: str | None) -> None:
    """Find entities (and seed matches) in text; print one JSON object per input.

    Stores nothing. Bad input lines are reported on stderr with their line number and the
    rest is still processed (exit code 1 if any line was bad).
    """
    import json

    from .inputs import decode_text
    from .stages import analysis_text, build_matcher, get_analyzer, score_text

    settings = ctx.settings()
    check_nlp_model(settings)
    if jsonl is None:
        text = decode_text(sys.stdin.buffer.read(), "<stdin>")
        records: list[tuple[int, dict[str, Any] | None, str | None]] = [
            (1, {"id": None, "text": text}, None)]
    else:
        if jsonl != "-" and not Path(jsonl).is_file():
            raise SpaceWatchError(f"{jsonl}: no such file")
        records = list(_read_jsonl(jsonl))
    analyzer = get_analyzer(settings)
    config = ctx.pipeline_config()
    warn_seeds(config)
    if ctx.db_path.exists():  # weigh seeds against the stored corpus, but write nothing
        with ctx.store() as store:
            matcher = build_matcher(store, config, record=False)
    else:
        matcher = build_matcher(None, config)
    bad = 0
    good = [(n, r) for n, r, e in records if r is not None]
    for number, _record, error in records:
        if error:
            bad += 1
            err.print(f"line {number}: {error}")
    texts = [analysis_text(str(r.get("title") or ""), r["text"]) for _n, r in good]
    limit = settings.nlp_max_chars
    for (number, _record), text in zip(good, texts, strict=True):
        if len(text) > limit:
            where = "input" if jsonl is None else f"line {number}"
            err.print(f"{where}: only the first {limit:,} of {len(text):,} characters were "
                      "analysed (settings.nlp_max_chars)")
    for (_number, record), text, mentions in zip(good, texts, analyzer.analyze(texts),
                                                strict=True):
        result = {
            "id": record.get("id"),
            "entities": [{"id": m.entity_id, "name": m.name, "kind": m.kind,
                          "surface": m.surface, "start": m.start, "end": m.end,
                          "role": m.role} for m in mentions],
            "matches": score_text(matcher, text, mentions),
        }
        click.echo(json.dumps(result, ensure_ascii=False))
    if bad:
        sys.exit(1)


@cli.command(name="import")
@click.argument("file", metavar="FILE.jsonl")
@pass_ctx
def import_(ctx: Context, file: str) -> None:
    """Store articles from a JSONL file (source "import") and run the whole pipeline on them.

    Each line: {"text": ..., "id": ..., "title": ..., "url": ..., "published": ...}. The way
    to backfill an archive. Re-importing the same ids with the same text adds nothing; an id
    already stored with a different title or text is an update (lines apply in file order):
    the earlier text is kept in article_versions, the article is analysed and matched again,
    and its earlier match events stay in the log (superseded when the score moved).
    """
    from .normalize import import_record
    from .stages import process_pending

    if file != "-" and not Path(file).is_file():
        raise SpaceWatchError(f"{file}: no such file")
    settings = ctx.settings()
    check_nlp_model(settings)  # before anything is stored
    from .fetch import now_utc
    from .normalize import iso

    now = now_utc()
    articles, bad = [], 0
    for number, record, error in _read_jsonl(file):
        article = import_record(record, now, settings) if record else None
        if article is None:
            bad += 1
            err.print(f"line {number}: {error or 'unusable record'}")
            continue
        if article.date_note:  # kept, flagged estimated: say why
            err.print(f"line {number}: {article.date_note}", markup=False, highlight=False)
        articles.append(article)
    config = ctx.pipeline_config()
    warn_seeds(config)
    with ctx.store() as store:
        saved = store.save_articles(articles, iso(now))
        with feed_progress(len(articles), "analyzing") as progress:
            stats = process_pending(store, config, progress=progress)
    updated = len(saved.updated_ids)
    kept = len(articles) - len(saved.new_ids) - updated
    out.print(f"imported {len(saved.new_ids)} new, {updated} updated"
              + (" (earlier text kept in article_versions)" if updated else "")
              + "; ".join([f", {kept} already stored, {bad} bad lines", *stats_parts(stats)]))
    if bad:
        sys.exit(1)


@cli.command()
@click.option("--kind", type=click.Choice(["AGENCY", "GOVERNMENT", "OFFICIAL", "CREW", "COMPANY",
                                           "PROGRAM", "SPACECRAFT", "COUNTRY", "PERSON",
                                           "ORGANIZATION", "PLACE"], case_sensitive=False),
              help="Only this kind of entity.")
@click.option("--since", metavar="YYYY-MM-DD", help="Only articles published since this day.")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(min=1),
              help="How many entities to list.")
@pass_ctx
def entities(ctx: Context, kind: str | None, since: str | None, limit: int) -> None:
    """List the most-mentioned entities (agencies, officials, crews, programs …).

    --since D counts articles published from the start of day D in settings.digest_timezone
    (the digest's days).
    """
    since_utc = _day_start(since, ctx.settings()) if since else None
    with ctx.store() as store:
        rows = store.top_entities(kind.upper() if kind else None, since_utc, limit)
    table = Table(title="top entities", title_justify="left")
    for col in ("entity", "name", "kind", "origin", "mentions", "articles"):
        table.add_column(col, justify="right" if col in ("mentions", "articles") else "left")
    for row in rows:
        table.add_row(cell(row["id"]), cell(row["name"]), cell(row["kind"]),
                      cell(row["origin"]), cell(row["mentions"]), cell(row["articles"]))
    out.print(table)


@cli.command()
@click.option("--all", "everything", is_flag=True,
              help="Re-run on every article, not only the stale ones.")
@pass_ctx
def reprocess(ctx: Context, everything: bool) -> None:
    """Re-run entity extraction and matching on articles whose NLP version is stale.

    An article is stale when the model, the gazetteer in models/ or the linking code changed
    since it was processed — after a gazetteer edit, say.
    """
    from .stages import get_analyzer, process_pending

    settings = ctx.settings()
    check_nlp_model(settings)
    config = ctx.pipeline_config()
    warn_seeds(config)
    with ctx.store() as store:
        if everything:
            store.reset_nlp()
        stale = len(store.articles_needing_nlp(get_analyzer(settings).version, 1_000_000))
        with feed_progress(stale, "reprocessing") as progress:
            stats = process_pending(store, config, progress=progress)
    out.print("; ".join([f"{stale} stale articles", *stats_parts(stats)]))


def _check_date(value: str) -> None:
    from datetime import date

    try:
        date.fromisoformat(value)
    except ValueError:
        raise SpaceWatchError(f"{value!r} is not a date (use YYYY-MM-DD)") from None


def _day_start(value: str, settings: Settings) -> str:
    """The start of day ``value`` (YYYY-MM-DD) in ``settings.digest_timezone`` as the UTC ISO
    string times are stored in; a day after today is refused."""
    from datetime import date
    from zoneinfo import ZoneInfo

    from .store.reports import check_not_future, day_bounds

    _check_date(value)
    day, tz = date.fromisoformat(value), ZoneInfo(settings.digest_timezone)
    check_not_future(day, tz)
    return day_bounds(day, tz)[0]


# Commands for the event log, the daemon and the digest live in cli_log (same group);
# query, search and serve (reading without changing anything) in cli_query.
from . import cli_log, cli_query  # noqa: E402, F401
