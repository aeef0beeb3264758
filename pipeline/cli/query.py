"""Commands that read the database without changing it: ``query``, ``search``, ``serve``."""

from __future__ import annotations

import base64
import csv
import importlib.util
import itertools
import json
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import RenderableType
from rich.text import Text

from ..errors import InputError, QueryCancelled, QueryTimeLimit, SpaceWatchError
from ..query import DEFAULT_TIME_LIMIT_MS, HIT_END, HIT_START, open_query, search_articles
from ..records import plural
from ..serve import check_port, datasette_command, run_child, write_datasette_files
from ..store import readonly_uri
from .context import Context, err, out, pass_ctx
from .render import cell, new_table

#: Rows a table shows unless --limit says otherwise (CSV and JSON show all).
TABLE_LIMIT = 1000


time_limit_option = click.option(
    "--time-limit", "time_limit_ms", type=click.IntRange(min=0), default=DEFAULT_TIME_LIMIT_MS,
    show_default=True, metavar="MS",
    help="Stop the query after MS milliseconds of work in SQLite (0: no limit).")


format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
    show_default=True, help="Output format.")


@contextmanager
def ctrl_c_stops_the_query() -> Iterator[threading.Event]:
    """While the block runs, Ctrl-C sets the event (the query's progress handler sees it
    within a few thousand SQLite steps) instead of waiting for SQLite to return."""
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return
    previous = signal.signal(signal.SIGINT, lambda _sig, _frame: cancel.set())
    try:
        yield cancel
    except QueryCancelled as exc:
        err.print(str(exc))
        sys.exit(130)
    finally:
        signal.signal(signal.SIGINT, previous)


def read_sql(sql: str | None, sql_file: str | None) -> str:
    """The SQL from the argument, from ``-f FILE``, or from stdin (``-`` for either)."""
    if sql is not None and sql_file is not None:
        raise InputError("give the SQL as an argument or with -f FILE, not both")
    source = sql_file if sql_file is not None else ("-" if sql == "-" else None)
    if source is None:
        if sql is None:
            raise InputError("no SQL given: spacewatch query \"SQL\", -f FILE, or - to read "
                             "stdin")
        return sql
    try:
        if source == "-":
            text = sys.stdin.buffer.read().decode("utf-8")
        else:
            text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{source}: no such file") from None
    except UnicodeDecodeError:
        raise InputError(f"{'stdin' if source == '-' else source}: the SQL is not UTF-8 "
                         "text") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot read it: {exc.strerror or exc}") from None
    return text.removeprefix("\ufeff")


def _json_value(value: object) -> object:
    if isinstance(value, bytes):  # a BLOB, the way Datasette shows one

        return {"$base64": True, "encoded": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot show a {type(value).__name__} as JSON")


def print_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str,
               limit: int | None,
               cells: Callable[[Sequence[Any]], Sequence[RenderableType]] | None = None,
               ) -> tuple[int, bool]:
    """Rows as a table, CSV or JSON; at most ``limit`` (None: all), with a note on stderr
    when rows were cut. Returns how many rows were printed and whether some were cut.

    Rows are read as they are printed; past the limit they are only counted, so a large
    result never sits in memory. ``cells`` turns a row into table cells (default: text).
    """


    rows = iter(rows)
    shown = 0
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        for row in itertools.islice(rows, limit):
            writer.writerow(row)
            shown += 1
    elif fmt == "json":
        click.echo("[", nl=False)
        for row in itertools.islice(rows, limit):
            click.echo(("\n  " if shown == 0 else ",\n  ") + json.dumps(
                dict(zip(columns, row, strict=True)), ensure_ascii=False,
                default=_json_value), nl=False)
            shown += 1
        click.echo("\n]" if shown else "]")
    else:
        table = new_table()
        for col in columns:
            table.add_column(Text(col))
        for row in itertools.islice(rows, limit):
            table.add_row(*(cells(row) if cells else [cell(v) for v in row]))
            shown += 1
        out.print(table)
    total, exact = shown, True
    try:
        for _row in rows:
            total += 1
    except QueryTimeLimit:  # counting what was cut off ran out of time: say so
        exact = False
    cut = total > shown or not exact
    if cut:
        err.print(f"showing {shown} of {'' if exact else 'more than '}{total} rows (--limit)")
    return shown, cut


@click.command()
@click.argument("sql", required=False)
@click.option("-f", "--file", "sql_file", metavar="FILE",
              help="Read the SQL from FILE ('-' for stdin; so does SQL given as '-').")
@click.option("-p", "--param", "params", nargs=2, multiple=True, metavar="NAME VALUE",
              help="A named parameter for :NAME in the SQL (repeatable).")
@format_option
@click.option("--limit", type=click.IntRange(min=0), default=None, metavar="N",
              help=f"Show at most N rows (default {TABLE_LIMIT} in a table, all in CSV and "
                   "JSON; 0: all); a note on stderr says how many there were.")
@time_limit_option
@pass_ctx
def query(ctx: Context, sql: str | None, sql_file: str | None,
          params: tuple[tuple[str, str], ...], fmt: str, limit: int | None,
          time_limit_ms: int) -> None:
    """Run a read-only SQL query against the database.

    The database is opened read-only: a query that tries to write, ATTACH or change a
    PRAGMA is refused with a message and a non-zero exit; read-only PRAGMAs such as
    integrity_check and table_info(articles) run. Ctrl-C stops a query at once (exit 130).
    Tables: feeds, fetches, articles, article_sources, article_versions, entities, mentions,
    seeds, matches; views: event_log, event_history, entity_articles; full text:
    articles_fts (or use 'spacewatch search').
    """

    text = read_sql(sql, sql_file)
    if limit is None:
        limit = TABLE_LIMIT if fmt == "table" else 0

    with ctrl_c_stops_the_query() as cancel, open_query(
            ctx.db_path, text, dict(params), time_limit_ms=time_limit_ms,
            cancel=cancel) as result:
        shown, cut = print_rows(result.columns, result, fmt, limit or None)
    if fmt == "table" and not cut:
        err.print(plural(shown, "row"))


def _snippet(text: str, fmt: str) -> Text | str:
    """The matched words in bold in a table, in [brackets] in CSV and JSON."""

    if fmt != "table":
        return text.replace(HIT_START, "[").replace(HIT_END, "]")
    snippet = Text()
    for i, part in enumerate(text.replace(HIT_END, HIT_START).split(HIT_START)):
        snippet.append(part, style="bold" if i % 2 else "")
    return snippet


@click.command()
@click.argument("terms", nargs=-1, required=True)
@click.option("--raw", is_flag=True,
              help="Pass TERMS to FTS5 as its own query syntax (OR, NOT, NEAR(), prefix*).")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many articles to show.")
@format_option
@time_limit_option
@pass_ctx
def search(ctx: Context, terms: tuple[str, ...], raw: bool, limit: int, fmt: str,
           time_limit_ms: int) -> None:
    """Full-text search of the stored articles (title, summary, text), newest first.

    Each word is searched as typed: cross-flight finds "cross-flight" (and "cross flight"),
    and every word must occur. Porter stemming: deorbit also finds deorbiting. A Russian
    word finds every case form of it (Роскосмоса also finds Роскосмос, Роскосмосу).
    """

    with ctrl_c_stops_the_query() as cancel:
        hits = search_articles(ctx.db_path, " ".join(terms), raw=raw, limit=limit,
                               time_limit_ms=time_limit_ms, cancel=cancel)
    rows = [(h.id, h.published_at, h.feed, h.title, _snippet(h.snippet, fmt)) for h in hits]
    columns = ["id", "published_at", "feed", "title", "snippet"]
    print_rows(columns, rows, fmt, None,
               cells=lambda r: [*(cell(v) for v in r[:4]), r[4]])
    if fmt == "table":

        more = f" (--limit {limit}: there may be more)" if len(hits) == limit else ""
        err.print(f"{plural(len(hits), 'article')}, newest first{more}")


@click.command()
@click.option("--port", default=8001, show_default=True, type=click.IntRange(1, 65535),
              help="Port on 127.0.0.1.")
@pass_ctx
def serve(ctx: Context, port: int) -> None:
    """Browse the database in Datasette (read-only): the event log newest first with
    facets, each entity's articles, and canned queries (today's matches in
    settings.digest_timezone, articles naming an entity, feed health, the README's).

    Datasette runs as a child that stops with this command (SIGTERM, SIGINT, SIGHUP; on
    Linux even SIGKILL). Needs the optional extra: pip install 'spacewatch[serve]'.
    """


    if importlib.util.find_spec("datasette") is None:
        raise SpaceWatchError("Datasette is not installed: pip install 'spacewatch[serve]' "
                              "(or pip install datasette)")
    immutable = "immutable=1" in readonly_uri(ctx.db_path)  # missing or damaged: an error
    with ctx.reader():  # an older schema lacks the views the pages show: one clear line
        pass
    zone = ctx.settings().digest_timezone
    check_port(port)
    name = ctx.db_path.stem
    with tempfile.TemporaryDirectory(prefix="spacewatch-serve-") as tmp:
        metadata_path, templates = write_datasette_files(Path(tmp), name, zone,
                                                         datetime.now(UTC))
        out.print(f"Datasette on http://127.0.0.1:{port}/{name} (Ctrl-C to stop)")
        ended = run_child(datasette_command(ctx.db_path, port, metadata_path,
                                            immutable=immutable, time_limit_ms=5000,
                                            template_dir=templates))
    if ended.stopped_by is not None:
        err.print(f"stopped ({signal.Signals(ended.stopped_by).name})")
        return
    if ended.returncode != 0:
        raise SpaceWatchError(f"Datasette stopped with exit code {ended.returncode}")

