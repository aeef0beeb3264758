"""``spacewatch`` commands for the event log, the daemon and the digest.

They register on the :func:`pipeline.cli.cli` group; like ``cli``, this is terminal code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.text import Text

from .cli import Context, _check_date, cli, err, feed_progress, out, pass_ctx, warn_seeds
from .errors import SpaceWatchError

# -- matching and the event log ------------------------------------------------------------


@cli.command()
@pass_ctx
def seeds(ctx: Context) -> None:
    """List the seed stories in seeds/ with their top entities, terms and phrases."""
    from .stages import build_matcher, seeds_folder

    config = ctx.pipeline_config()
    warn_seeds(config, matching=False)
    store = ctx.store() if ctx.db_path.exists() else None
    try:
        matcher = build_matcher(store, config, record=False)  # listing writes nothing
    finally:
        if store is not None:
            store.close()
    if not matcher.profiles:
        out.print(f"no seeds in {seeds_folder(config)} (add a .md or .txt file per story)")
        return
    for profile in matcher.profiles:
        summary = profile.summary()
        out.print(Text.assemble((profile.seed_id, "bold"), f": {profile.title}"))
        out.print("  entities: " + ", ".join(f"{e['name']} ({e['kind']}, {e['weight']})"
                                             for e in summary["entities"]))
        out.print("  terms:    " + ", ".join(t["term"] for t in summary["terms"]))
        out.print("  phrases:  " + ", ".join(summary["phrases"]))


@cli.command()
@pass_ctx
def rematch(ctx: Context) -> None:
    """Score stored articles against the current seeds (after adding or editing a seed).

    Uses the stored entity mentions, so only matching runs. The event log is append-only:
    a score that moved beyond the tolerance (0.05) adds a new version of the event (or
    withdraws it), smaller drift changes nothing; no event is ever rewritten or deleted.
    A seed removed from seeds/ is retired (its events leave event_log and the digest).
    """
    from .config import check_nlp_model
    from .stages import build_matcher, run_matching

    config = ctx.pipeline_config()
    check_nlp_model(config.settings)
    warn_seeds(config)
    with ctx.store() as store:
        matcher = build_matcher(store, config)
        todo = len(store.articles_needing_match(matcher.version))
        with feed_progress(todo, "matching") as progress:
            counts = run_matching(store, matcher, progress=progress)
        events = store.match_count()
    out.print(f"{counts.describe()}; {events} current events from "
              f"{len(matcher.profiles)} seeds in the log")


@cli.command()
@click.argument("article_id", type=int)
@click.option("--seed", "seed_id", metavar="ID", help="Only this seed.")
@pass_ctx
def explain(ctx: Context, article_id: int, seed_id: str | None) -> None:
    """Show why an article matched (or did not match) a seed: the score's breakdown."""

    from .stages import analysis_text, build_matcher

    config = ctx.pipeline_config()
    warn_seeds(config, matching=False)
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
    # A stored event of a seed that no longer loads (removed, invalid, wrong seeds_dir)
    # is still shown, as recorded.
    loaded = {r[0] for r in results}
    results += [(sid, *stored[sid]) for sid in sorted(stored) if sid not in loaded]
    if seed_id:
        results = [r for r in results if r[0] == seed_id]
        if not results:
            raise SpaceWatchError(f"no seed with id {seed_id!r}")
    out.print(Text.assemble((f"article {article_id}", "bold"), f": {row['title']}"))
    for sid, value, ex in sorted(results, key=lambda r: -r[1]):
        verdict = "MATCH" if value >= matcher.threshold else "no match"
        c = ex["components"]
        out.print(Text.assemble("\nseed ", (sid, "bold"), f": score {value:.3f} ({verdict}; "
                                f"threshold {matcher.threshold})"))
        if sid not in loaded:
            out.print("  as recorded: this seed no longer loads from seeds/")
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

    One daemon per database (a lock next to it). SIGTERM or Ctrl-C stops it within a few
    seconds, cancelling fetches in flight (not counted as feed failures); SIGHUP or an edit
    of feeds.yaml reloads the feeds and logs what changed. One log line per fetch and one
    per stage run go to stderr (and to settings.log_file, rotated, when set).
    """
    import logging.handlers

    from .config import check_nlp_model
    from .daemon import Daemon, DaemonOptions

    config = ctx.config
    check_nlp_model(config.settings)
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
        import os

        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)
    sys.exit(code)


@cli.command()
@click.option("--date", "day", metavar="YYYY-MM-DD",
              help="The day to report (default: today in settings.digest_timezone).")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json", "text"]),
              default="md", show_default=True,
              help="Markdown for the terminal, HTML for a browser or e-mail, plain text, "
                   "JSON for other tools.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of stdout.")
@click.option("--email", "email", is_flag=True,
              help="E-mail the day's digest (HTML and plain text) to settings.smtp.to now, "
                   "once; every attempt is recorded and shown by 'spacewatch status'.")
@pass_ctx
def digest(ctx: Context, day: str | None, fmt: str, out_path: str | None, email: bool) -> None:
    """Render a day's digest: matches per seed, actors on the move, a 30-day chart of
    matches, and feed health. A day with no data says so; a day after today is refused.

    Days are calendar days in settings.digest_timezone. With --email the digest is sent
    (or sent again) instead of printed, and a failure exits non-zero.
    """
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from .digest import build_digest

    settings = ctx.settings()
    if day:
        _check_date(day)
        when = date.fromisoformat(day)
    else:
        when = datetime.now(ZoneInfo(settings.digest_timezone)).date()
    from .store.reports import check_not_future

    check_not_future(when, ZoneInfo(settings.digest_timezone))
    if not ctx.db_path.exists():
        raise SpaceWatchError(f"{ctx.db_path}: no database yet (run 'spacewatch fetch' first)")
    if email:
        from click.core import ParameterSource

        given = click.get_current_context().get_parameter_source("fmt")
        if out_path or given != ParameterSource.DEFAULT:
            raise SpaceWatchError("--email sends the HTML and plain-text digest: use it "
                                  "without --out and --format")
        from .digest import deliver_digest

        with ctx.store() as store:
            delivery = deliver_digest(store, settings, when, delays=())
        err.print(Text(f"digest for {when.isoformat()} e-mailed to {delivery.recipients}"))
        return
    if out_path and not Path(out_path).absolute().parent.is_dir():
        raise SpaceWatchError(f"--out {out_path}: the folder {Path(out_path).parent} does not "
                              "exist (create it first)")
    with ctx.reader() as store:
        text = build_digest(store, when, fmt, settings.digest_timezone)
    if out_path:
        try:
            Path(out_path).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise SpaceWatchError(f"--out {out_path}: cannot write the digest: "
                                  f"{exc.strerror or exc}") from None
        err.print(f"digest for {when.isoformat()} written to {out_path}")
    else:
        click.echo(text)
