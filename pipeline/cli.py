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
err = Console(stderr=True, highlight=False)


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
        if self.config_path.exists():
            return self.config.settings
        return Settings()

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
            elif event.startswith("stage:"):
                progress.update(task, description=event.split(":", 1)[1])

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
    with ctx.store() as store:
        rows = store.feed_status()
    table = Table(title=f"feeds in {ctx.db_path}", title_justify="left")
    for col in ("feed", "last fetch", "result", "errors", "next", "articles", "flag"):
        table.add_column(col)
    for row in rows:
        flag = "DISABLED: " + (row["disabled_reason"] or "") if row["disabled"] else (
            "failing" if row["error_count"] >= 3 else ("off" if not row["enabled"] else ""))
        result = row["last_outcome"] or "never fetched"
        if row["last_error"]:
            result += f": {row['last_error']}"
        table.add_row(row["name"], row["last_fetch_at"] or "-", result, str(row["error_count"]),
                      row["next_fetch_at"] or "-", str(row["articles"]), flag)
    out.print(table)


@cli.command()
@click.option("--out", "out_dir", default="demo-output", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the demo database.")
@pass_ctx
def demo(ctx: Context, out_dir: str) -> None:
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
    with DemoServer() as server:
        config = demo_config(server, settings)
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
            rows = store.rows("SELECT a.published_at, f.name AS feed, a.title FROM articles a "
                              "LEFT JOIN feeds f ON f.id = a.feed_id "
                              "ORDER BY a.published_at DESC LIMIT 12")
    table = Table(title="latest stored articles", title_justify="left")
    for col in ("published", "feed", "title"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["published_at"], row["feed"] or "", row["title"][:90])
    out.print(table)
    out.print(f"demo database: {db_path}")
