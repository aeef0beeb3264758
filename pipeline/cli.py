"""The ``spacewatch`` command line: the only module that prints.

Library errors (:class:`SpaceWatchError`) become one line on stderr and a non-zero exit code;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .config import Config, Settings, load_config
from .errors import SpaceWatchError
from .ingest import FeedReport, PassReport, run_pass
from .store import Store

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


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
        return Store(self.db_path)


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
    if not out.is_terminal:  # piped output: wide tables rather than truncated cells
        out.width = 180
    ctx.obj = Context(db, config, verbose)


def main() -> None:
    """Console-script entry point."""
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
        err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


# -- helpers -------------------------------------------------------------------------------


@contextmanager
def feed_progress(total: int, label: str = "fetching") -> Iterator[Any]:
    """A progress bar on stderr that advances once per finished feed."""
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("{task.fields[last]}"),
                        TimeElapsedColumn(), console=err, transient=True,
                        disable=not err.is_terminal)
    with progress:
        task = progress.add_task(label, total=total, last="")

        def update(event: str, item: FeedReport | None) -> None:
            if event == "feed" and item is not None:
                progress.update(task, advance=1, last=item.feed)
            elif event == "advance" and isinstance(item, int):
                progress.update(task, advance=item)
            elif event.startswith("stage:"):
                total = item if isinstance(item, int) else None
                progress.reset(task, total=total, description=event.split(":", 1)[1], last="")

        yield update


def print_pass(report: PassReport) -> None:
    """The per-feed table after a pass, then one summary line."""
    table = Table(title="fetch pass", title_justify="left")
    for col in ("feed", "status", "http", "new", "updated", "time", "note"):
        table.add_column(col, justify="right" if col in ("new", "updated", "time") else "left")
    for item in sorted(report.feeds, key=lambda f: f.feed):
        status = item.outcome if not item.error else f"{item.outcome}: {item.error}"
        note = item.detail or "; ".join(item.notes)
        table.add_row(item.feed, status, str(item.http_status or ""), str(item.new),
                      str(item.updated), f"{item.duration_ms / 1000:.2f}s", (note or "")[:80])
    out.print(table)
    line = (f"{len(report.feeds)} feeds: {report.new} new, {report.updated} updated, "
            f"{report.failed} failed")
    for name, value in report.stages.items():
        line += f"; {name}: {value}"
    out.print(line)


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

    Feeds inside their backoff window (after failures) are skipped unless --force.
    """
    config = ctx.config
    for name in feeds:
        config.feed(name)
    total = len(feeds) if feeds else sum(1 for f in config.feeds if f.enabled)
    with ctx.store() as store, feed_progress(total) as progress:
        report = run_pass(store, config, only=feeds or None, force=force, progress=progress)
    print_pass(report)


@cli.command()
@pass_ctx
def status(ctx: Context) -> None:
    """Show each feed's last fetch, result, error count and articles."""
    if not ctx.db_path.exists():
        raise SpaceWatchError(f"{ctx.db_path}: no database yet (run 'spacewatch fetch')")
    from .daemon import daemon_status

    with ctx.store() as store:
        rows = store.feed_status()
        daemon = daemon_status(store, ctx.db_path)
    if daemon["running"]:
        out.print(f"daemon: [bold green]running[/] (pid {daemon['pid']}), last heartbeat "
                  f"{daemon['heartbeat'] or 'none yet'}")
    else:
        out.print("daemon: not running" + (f" (last heartbeat {daemon['heartbeat']})"
                                           if daemon["heartbeat"] else ""))
    if daemon["config_error"]:
        out.print(f"[red]feeds.yaml reload failed, last good configuration in force:[/] "
                  f"{daemon['config_error']}")
    schedule = daemon["schedule"]
    table = Table(title=f"feeds in {ctx.db_path}", title_justify="left")
    for col in ("feed", "last fetch", "result", "errors", "next", "articles", "full text",
                "extraction failed", "flag"):
        table.add_column(col)
    for row in rows:
        flag = "DISABLED: " + (row["disabled_reason"] or "") if row["disabled"] else (
            "failing" if row["error_count"] >= 3 else ("off" if not row["enabled"] else ""))
        result = row["last_outcome"] or "never fetched"
        if row["last_error"]:
            result += f": {row['last_error']}"
        next_run = schedule.get(row["name"]) or row["next_fetch_at"] or "-"
        table.add_row(row["name"], row["last_fetch_at"] or "-", result, str(row["error_count"]),
                      next_run, str(row["articles"]), str(row["full_text"]),
                      str(row["extraction_failed"]), flag)
    out.print(table)
    if daemon["recent_errors"]:
        errors = Table(title="recent errors", title_justify="left")
        for col in ("when", "feed", "error", "detail"):
            errors.add_column(col)
        for e in daemon["recent_errors"]:
            errors.add_row(e["started_at"], e["feed"], e["error"] or "", (e["detail"] or "")[:80])
        out.print(errors)


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
        table.add_row(row["name"], row["kind"], str(row["mentions"]), str(row["articles"]))
    out.print(table)
    out.print("[bold]top matches for the seed stories[/]")
    for row in events:
        ex = row["explanation"]
        out.print(f"  {row['score']:.2f}  {row['title']}  [dim]({row['feed']})[/]")
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
    """(line number, record or None, error or None) for each non-blank line of a JSONL file."""
    import json

    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    try:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, f"not JSON ({exc.msg})"
                continue
            if not isinstance(record, dict):
                yield number, None, "expected a JSON object"
            elif not isinstance(record.get("text"), str) or not record["text"].strip():
                yield number, None, "no 'text' field"
            else:
                yield number, record, None
    except UnicodeDecodeError as exc:
        yield 0, None, f"not UTF-8 text: {exc}"
    finally:
        if stream is not sys.stdin:
            stream.close()


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

    from .stages import analysis_text, build_matcher, get_analyzer, score_text

    settings = ctx.settings()
    analyzer = get_analyzer(settings)
    config = ctx.pipeline_config()
    if ctx.db_path.exists():  # weigh seeds against the stored corpus, but write nothing
        with ctx.store() as store:
            matcher = build_matcher(store, config, record=False)
    else:
        matcher = build_matcher(None, config)
    if jsonl is None:
        records = [(1, {"id": None, "text": sys.stdin.read()}, None)]
    else:
        if jsonl != "-" and not Path(jsonl).is_file():
            raise SpaceWatchError(f"{jsonl}: no such file")
        records = list(_read_jsonl(jsonl))
    bad = 0
    good = [(n, r) for n, r, e in records if r is not None]
    for number, _record, error in records:
        if error:
            bad += 1
            err.print(f"line {number}: {error}")
    texts = [analysis_text(str(r.get("title") or ""), r["text"]) for _n, r in good]
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
    to backfill an archive. Re-importing the same ids adds nothing.
    """
    from .normalize import import_record
    from .stages import process_pending

    if file != "-" and not Path(file).is_file():
        raise SpaceWatchError(f"{file}: no such file")
    settings = ctx.settings()
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
        articles.append(article)
    config = ctx.pipeline_config()
    with ctx.store() as store:
        saved = store.save_articles(articles, iso(now))
        with feed_progress(len(articles), "analyzing") as progress:
            stats = process_pending(store, config, progress=progress)
    out.print(f"imported {len(saved.new_ids)} new, {len(articles) - len(saved.new_ids)} "
              f"already stored, {bad} bad lines; " + "; ".join(f"{k}: {v}"
                                                             for k, v in stats.items()))
    if bad:
        sys.exit(1)


@cli.command()
@click.option("--kind", type=click.Choice(["AGENCY", "GOVERNMENT", "OFFICIAL", "CREW", "COMPANY",
                                           "PROGRAM", "SPACECRAFT", "COUNTRY", "PERSON",
                                           "ORGANIZATION", "PLACE"], case_sensitive=False),
              help="Only this kind of entity.")
@click.option("--since", metavar="YYYY-MM-DD", help="Only articles published since this day.")
@click.option("--limit", default=30, show_default=True, help="How many entities to list.")
@pass_ctx
def entities(ctx: Context, kind: str | None, since: str | None, limit: int) -> None:
    """List the most-mentioned entities (agencies, officials, crews, programs …)."""
    if since:
        _check_date(since)
    with ctx.store() as store:
        rows = store.top_entities(kind.upper() if kind else None, since, limit)
    table = Table(title="top entities", title_justify="left")
    for col in ("entity", "name", "kind", "origin", "mentions", "articles"):
        table.add_column(col, justify="right" if col in ("mentions", "articles") else "left")
    for row in rows:
        table.add_row(row["id"], row["name"], row["kind"], row["origin"], str(row["mentions"]),
                      str(row["articles"]))
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
    config = ctx.pipeline_config()
    with ctx.store() as store:
        if everything:
            store.reset_nlp()
        stale = len(store.articles_needing_nlp(get_analyzer(settings).version, 1_000_000))
        with feed_progress(stale, "reprocessing") as progress:
            stats = process_pending(store, config, progress=progress)
    out.print(f"{stale} stale articles; " + "; ".join(f"{k}: {v}" for k, v in stats.items()))


def _check_date(value: str) -> None:
    from datetime import date

    try:
        date.fromisoformat(value)
    except ValueError:
        raise SpaceWatchError(f"{value!r} is not a date (use YYYY-MM-DD)") from None


# Commands for the event log, the daemon and the digest live in cli_log (same group).
from . import cli_log  # noqa: E402, F401
