"""Commands that analyse text: ``analyze``, ``import``, ``entities``, ``reprocess``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from ..config import check_nlp_model
from ..errors import SpaceWatchError
from ..inputs import decode_text, read_jsonl
from ..normalize import import_record
from ..records import ENTITY_KINDS, iso, now_utc, parse_iso, plural
from .alerts import deliver_before_exit
from .context import Context, day_start, err, out, pass_ctx, warn_seeds
from .render import cell, feed_progress, stage_parts


def _read_jsonl(path: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, record or None, error or None) for each non-blank line of a JSONL file
    (see :func:`pipeline.inputs.read_jsonl`: BOMs, UTF-16 and binary input are handled)."""

    return read_jsonl(path)


@click.command()
@click.option("--jsonl", "jsonl", metavar="FILE",
              help="One JSON object per line with 'text' (and optional id, title, url, "
                   "published); '-' for stdin. Without it, stdin is one text.")
@pass_ctx
def analyze(ctx: Context, jsonl: str | None) -> None:
    """Find entities, who said what (quotes) and seed matches in text; print one JSON
    object per input.

    Stores nothing. Bad input lines are reported on stderr with their line number and the
    rest is still processed (exit code 1 if any line was bad).
    """

    from ..entities import analysis_text, get_analyzer
    from ..language import detect_language
    from ..match import build_matcher, score_text
    from ..normalize import given_language
    from ..quotes import find_quotes

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
    # A record's own "language" wins; otherwise each text's is identified.
    languages = [given_language(r.get("language")) or detect_language(text).code
                 for (_n, r), text in zip(good, texts, strict=True)]
    # A record's "published" is the day a role-only mention is resolved on (default today).
    days: list[str | None] = []
    for number, record in good:
        raw = record.get("published")
        try:
            days.append(iso(parse_iso(str(raw))) if raw not in (None, "") else None)
        except ValueError:
            days.append(None)
            where = "input" if jsonl is None else f"line {number}"
            err.print(f"{where}: unparseable published {str(raw)[:40]!r}; offices are "
                      "resolved as of today", markup=False)
    limit = settings.nlp_max_chars
    for (number, _record), text in zip(good, texts, strict=True):
        if len(text) > limit:
            where = "input" if jsonl is None else f"line {number}"
            err.print(f"{where}: only the first {limit:,} of {len(text):,} characters were "
                      "analysed (settings.nlp_max_chars)")
    today = now_utc().date().isoformat()
    for (_number, record), text, language, day, mentions in zip(
            good, texts, languages, days, analyzer.analyze(texts, languages, dates=days),
            strict=True):
        result = {
            "id": record.get("id"),
            "language": language,
            "entities": [{"id": m.entity_id, "name": m.name, "kind": m.kind,
                          "surface": m.surface, "start": m.start, "end": m.end,
                          "role": m.role, "resolved_by": m.resolved_by,
                          "resolution": m.resolution(day or today)} for m in mentions],
            "matches": score_text(matcher, text, mentions, language),
            "quotes": [{"speaker_id": q.speaker_entity_id, "speaker_name": q.speaker_name,
                        "text": q.text, "kind": q.kind, "cue": q.cue, "start": q.start,
                        "end": q.end} for q in find_quotes(text, mentions, language)],
        }
        click.echo(json.dumps(result, ensure_ascii=False))
    if bad:
        sys.exit(1)


@click.command(name="import")
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
    from ..ingest import analyse_pending

    if file != "-" and not Path(file).is_file():
        raise SpaceWatchError(f"{file}: no such file")
    settings = ctx.settings()
    check_nlp_model(settings)  # before anything is stored

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
            stages = analyse_pending(store, config, progress=progress)
        alerts_line = deliver_before_exit(store, config)
    updated = len(saved.updated_ids)
    kept = len(articles) - len(saved.new_ids) - updated
    out.print(f"imported {len(saved.new_ids)} new, {updated} updated"
              + (" (earlier text kept in article_versions)" if updated else "")
              + "; ".join([f", {kept} already stored, {plural(bad, 'bad line')}",
                           *stage_parts(stages)]))
    if alerts_line is not None:
        out.print(alerts_line)
    if bad:
        sys.exit(1)


def listing_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options of ``entities`` and ``entities list``."""
    command = click.option("--limit", default=30, show_default=True,
                           type=click.IntRange(min=1), help="How many entities to list.")(command)
    command = click.option("--since", metavar="YYYY-MM-DD",
                           help="Only articles published since this day.")(command)
    return click.option("--kind", type=click.Choice(ENTITY_KINDS, case_sensitive=False),
                        help="Only this kind of entity.")(command)


@click.group(invoke_without_command=True)
@listing_options
@click.pass_context
def entities(click_ctx: click.Context, kind: str | None, since: str | None, limit: int) -> None:
    """List the most-mentioned entities (agencies, officials, crews, programs …); merge,
    ban or promote them (the gazetteer overlay).

    Without a subcommand, lists them (as `entities list`). --since D counts articles
    published from the start of day D in settings.digest_timezone (the digest's days).
    """
    if click_ctx.invoked_subcommand is None:
        list_entities(click_ctx.find_object(Context), kind, since, limit)


def list_entities(ctx: Context | None, kind: str | None, since: str | None,
                  limit: int) -> None:
    """Print the table of the most-mentioned entities."""
    assert ctx is not None
    since_utc = day_start(since, ctx.settings()) if since else None
    with ctx.store() as store:
        rows = store.top_entities(kind.upper() if kind else None, since_utc, limit)
    table = Table(title="top entities", title_justify="left")
    for col in ("entity", "name", "kind", "origin", "mentions", "articles"):
        table.add_column(col, justify="right" if col in ("mentions", "articles") else "left")
    for row in rows:
        table.add_row(cell(row["id"]), cell(row["name"]), cell(row["kind"]),
                      cell(row["origin"]), cell(row["mentions"]), cell(row["articles"]))
    out.print(table)


@click.command()
@click.option("--all", "everything", is_flag=True,
              help="Re-run on every article, not only the stale ones.")
@pass_ctx
def reprocess(ctx: Context, everything: bool) -> None:
    """Re-run entity extraction and matching on articles whose NLP version is stale.

    An article is stale when the model, the gazetteer in models/ or the linking code changed
    since it was processed — after a gazetteer edit, say. Alerts the run queued are sent
    before it exits (as after fetch); what cannot go within 20 s waits for the next run.
    """
    from ..entities import get_analyzer
    from ..ingest import analyse_pending

    settings = ctx.settings()
    check_nlp_model(settings)
    config = ctx.pipeline_config()
    warn_seeds(config)
    with ctx.store() as store:
        if everything:
            store.reset_nlp()
        stale = len(store.articles_needing_nlp(get_analyzer(settings).version, 1_000_000))
        with feed_progress(stale, "reprocessing") as progress:
            stages = analyse_pending(store, config, progress=progress)
        alerts_line = deliver_before_exit(store, config)  # what this run queued, at once
    out.print("; ".join([plural(stale, "stale article"), *stage_parts(stages)]))
    if alerts_line is not None:
        out.print(alerts_line)

