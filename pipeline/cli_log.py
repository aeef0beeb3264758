"""``spacewatch`` commands for the event log, the daemon and the digest.

They register on the :func:`pipeline.cli.cli` group; like ``cli``, this is terminal code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from .cli import Context, _check_date, cli, err, feed_progress, out, pass_ctx
from .errors import SpaceWatchError

# -- matching and the event log ------------------------------------------------------------


@cli.command()
@pass_ctx
def seeds(ctx: Context) -> None:
    """List the seed stories in seeds/ with their top entities, terms and phrases."""
    from .stages import build_matcher, seeds_folder

    config = ctx.pipeline_config()
    store = ctx.store() if ctx.db_path.exists() else None
    try:
        matcher = build_matcher(store, config, record=store is not None)
    finally:
        if store is not None:
            store.close()
    if not matcher.profiles:
        out.print(f"no seeds in {seeds_folder(config)} (add a .md or .txt file per story)")
        return
    for profile in matcher.profiles:
        summary = profile.summary()
        out.print(f"[bold]{profile.seed_id}[/]: {profile.title}")
        out.print("  entities: " + ", ".join(f"{e['name']} ({e['kind']}, {e['weight']})"
                                             for e in summary["entities"]))
        out.print("  terms:    " + ", ".join(t["term"] for t in summary["terms"]))
        out.print("  phrases:  " + ", ".join(summary["phrases"]))


@cli.command()
@pass_ctx
def rematch(ctx: Context) -> None:
    """Score stored articles against the current seeds (after adding or editing a seed).

    Uses the stored entity mentions, so only matching runs; events are updated in place,
    never duplicated.
    """
    from .stages import build_matcher, run_matching

    config = ctx.pipeline_config()
    with ctx.store() as store:
        matcher = build_matcher(store, config)
        todo = len(store.articles_needing_match(matcher.version))
        with feed_progress(todo, "matching") as progress:
            stats = run_matching(store, matcher, progress=progress)
        events = store.match_count()
    out.print(f"{stats['rescored']} articles scored against {len(matcher.profiles)} seeds; "
              f"{events} match events in the log")


@cli.command()
@click.argument("sql")
@click.option("-p", "--param", "params", nargs=2, multiple=True, metavar="NAME VALUE",
              help="A named parameter for :NAME in the SQL (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Output format.")
@pass_ctx
def query(ctx: Context, sql: str, params: tuple[tuple[str, str], ...], fmt: str) -> None:
    """Run a read-only SQL query against the database.

    The database is opened read-only: a query that tries to write, ATTACH or change a
    PRAGMA is refused with a message and a non-zero exit. Tables: feeds, fetches, articles,
    entities, mentions, seeds, matches; view: event_log; full text: articles_fts.
    """
    import csv
    import json

    from .query import run_query

    columns, rows = run_query(ctx.db_path, sql, dict(params))
    if fmt == "json":
        click.echo(json.dumps([dict(zip(columns, r, strict=True)) for r in rows],
                              ensure_ascii=False, indent=2))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        table = Table(show_lines=False)
        for col in columns:
            table.add_column(col)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        out.print(table)
        err.print(f"{len(rows)} rows")


@cli.command()
@click.option("--port", default=8001, show_default=True, help="Port on 127.0.0.1.")
@pass_ctx
def serve(ctx: Context, port: int) -> None:
    """Browse the database in Datasette (read-only), with the README's example queries.

    Needs the optional extra: pip install 'spacewatch[serve]'.
    """
    import importlib.util
    import json
    import tempfile

    from .query import EXAMPLES, connect_readonly

    if importlib.util.find_spec("datasette") is None:
        raise SpaceWatchError("Datasette is not installed: pip install 'spacewatch[serve]' "
                              "(or pip install datasette)")
    connect_readonly(ctx.db_path).close()
    name = ctx.db_path.stem
    metadata = {"title": "SpaceWatch event log", "databases": {name: {"queries": {
        ex.name: {"title": ex.title, "sql": ex.sql} for ex in EXAMPLES}}}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(metadata, fh)
    import subprocess

    out.print(f"Datasette on http://127.0.0.1:{port}/{name} (Ctrl-C to stop)")
    cmd = [sys.executable, "-m", "datasette", "serve", str(ctx.db_path), "--host", "127.0.0.1",
           "--port", str(port), "--metadata", fh.name, "--setting", "sql_time_limit_ms",
           "5000"]
    try:
        subprocess.run(cmd, check=False)
    finally:
        Path(fh.name).unlink(missing_ok=True)


@cli.command()
@click.argument("article_id", type=int)
@click.option("--seed", "seed_id", metavar="ID", help="Only this seed.")
@pass_ctx
def explain(ctx: Context, article_id: int, seed_id: str | None) -> None:
    """Show why an article matched (or did not match) a seed: the score's breakdown."""

    from .stages import analysis_text, build_matcher

    config = ctx.pipeline_config()
    with ctx.store() as store:
        rows = store.articles_by_id([article_id])
        if not rows:
            raise SpaceWatchError(f"no article with id {article_id}")
        matcher = build_matcher(store, config, record=False)
        mentions = store.mentions_for([article_id])[article_id]
        store_matches = store.matches_of(article_id)
    row = rows[0]
    results = matcher.results(analysis_text(row["title"], row["text"]), mentions)
    stored = {r["seed_id"]: (r["score"], r["explanation"]) for r in store_matches}
    # An event in the log is shown as it was recorded; other seeds are scored now.
    results = [(sid, *stored[sid]) if sid in stored else (sid, value, ex)
               for sid, value, ex in results]
    if seed_id:
        results = [r for r in results if r[0] == seed_id]
        if not results:
            raise SpaceWatchError(f"no seed with id {seed_id!r}")
    out.print(f"[bold]article {article_id}[/]: {row['title']}")
    for sid, value, ex in sorted(results, key=lambda r: -r[1]):
        verdict = "MATCH" if value >= matcher.threshold else "no match"
        c = ex["components"]
        out.print(f"\nseed [bold]{sid}[/]: score {value:.3f} ({verdict}; threshold "
                  f"{matcher.threshold})")
        out.print(f"  = {ex['weights']['entities']} × entities {c['entities']:.3f}"
                  f" + {ex['weights']['lexical']} × lexical {c['lexical']:.3f}"
                  f" (cosine {c['cosine']:.3f}) + {ex['weights']['phrases']} × phrases "
                  f"{c['phrases']:.3f}")
        out.print("  entities: " + (", ".join(f"{e['name']} ({e['kind']}, weight "
                                              f"{e['weight']}, ×{e['mentions']})"
                                              for e in ex["entities"]) or "none shared"))
        out.print("  terms:    " + (", ".join(t["term"] for t in ex["terms"]) or "none"))
        out.print("  phrases:  " + (", ".join(f"{p['phrase']} ×{p['count']}"
                                              for p in ex["phrases"]) or "none"))
        for sentence in ex["evidence"]:
            out.print(f"  evidence: “{sentence}”")


# -- daemon and digest ---------------------------------------------------------------------


@cli.command()
@click.option("--digest-dir", type=click.Path(file_okay=False), default=None,
              help="Where the daily digests go (default: settings.digest_dir, ./digests).")
@click.option("--digest-now", is_flag=True, help="Also write yesterday's digest at start-up.")
@pass_ctx
def run(ctx: Context, digest_dir: str | None, digest_now: bool) -> None:
    """Run SpaceWatch as a background daemon (APScheduler): every feed on its interval,
    full text, entities and matching after each fetch, and the daily digest.

    One daemon per database (a lock next to it). SIGTERM or Ctrl-C stops it cleanly;
    SIGHUP or an edit of feeds.yaml reloads the feeds. One log line per fetch goes to stderr
    (and to settings.log_file, rotated, when set).
    """
    import logging.handlers

    from .daemon import Daemon, DaemonOptions

    config = ctx.config
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if config.settings.log_file:
        handlers.append(logging.handlers.RotatingFileHandler(
            config.settings.log_file, maxBytes=5_000_000, backupCount=5))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("apscheduler", "httpx", "httpcore", "trafilatura", "htmldate"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    options = DaemonOptions(config_path=ctx.config_path, db_path=ctx.db_path,
                            digest_dir=Path(digest_dir) if digest_dir else None,
                            run_digest_now=digest_now)
    sys.exit(Daemon(options).run())


@cli.command()
@click.option("--date", "day", metavar="YYYY-MM-DD",
              help="The day to report (default: today in settings.digest_timezone).")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md",
              show_default=True, help="Markdown for the terminal, HTML for a browser or "
                                      "e-mail, JSON for other tools.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of stdout.")
@pass_ctx
def digest(ctx: Context, day: str | None, fmt: str, out_path: str | None) -> None:
    """Render a day's digest: matches per seed, actors on the move, a 30-day chart of
    matches, and feed health. A day with no data says so."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from .digest import build_digest

    settings = ctx.settings()
    if day:
        _check_date(day)
        when = date.fromisoformat(day)
    else:
        when = datetime.now(ZoneInfo(settings.digest_timezone)).date()
    if not ctx.db_path.exists():
        raise SpaceWatchError(f"{ctx.db_path}: no database yet (run 'spacewatch fetch' first)")
    with ctx.store() as store:
        text = build_digest(store, when, fmt, settings.digest_timezone)
    if out_path:
        Path(out_path).write_text(text, encoding="utf-8")
        err.print(f"digest for {when.isoformat()} written to {out_path}")
    else:
        click.echo(text)
