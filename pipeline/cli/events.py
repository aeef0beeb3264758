"""Commands for the seeds and the event log: ``seeds``, ``rematch``, ``explain``."""

from __future__ import annotations

import click
from rich.text import Text

from ..config import check_nlp_model
from ..errors import SpaceWatchError
from ..records import Mention, Quote, plural
from .context import ROW_ID, Context, out, pass_ctx, warn_seeds
from .render import events_text, feed_progress, stories_text


@click.group(invoke_without_command=True)
@click.pass_context
def seeds(click_ctx: click.Context) -> None:
    """List the seed stories in seeds/ with their top entities, terms and phrases
    (`seeds add` writes a new seed from an article page, a file or a story)."""
    from ..match import build_matcher

    if click_ctx.invoked_subcommand is not None:
        return
    ctx: Context = click_ctx.obj  # set by the cli group
    config = ctx.pipeline_config()
    warn_seeds(config, matching=False)
    store = ctx.store() if ctx.db_path.exists() else None
    try:
        matcher = build_matcher(store, config, record=False)  # listing writes nothing
    finally:
        if store is not None:
            store.close()
    if not matcher.profiles:
        out.print(f"no seeds in {config.seeds_folder} (add a .md or .txt file per story)")
        return
    for profile in matcher.profiles:
        summary = profile.summary()
        out.print(Text.assemble((profile.seed_id, "bold"), f": {profile.title}"))
        out.print("  entities: " + ", ".join(f"{e['name']} ({e['kind']}, {e['weight']})"
                                             for e in summary["entities"]))
        out.print("  terms:    " + ", ".join(t["term"] for t in summary["terms"]))
        out.print("  phrases:  " + ", ".join(summary["phrases"]))


@click.command()
@pass_ctx
def rematch(ctx: Context) -> None:
    """Score stored articles against the current seeds (after adding or editing a seed).

    Uses the stored entity mentions, so only matching runs. The event log is append-only:
    a score that moved beyond the tolerance (0.05) adds a new version of the event (or
    withdraws it), smaller drift changes nothing; no event is ever rewritten or deleted.
    A seed removed from seeds/ is retired (its events leave event_log and the digest).
    """
    from ..alerts import queue_alerts
    from ..ingest import run_matching
    from ..match import build_matcher
    from ..stories import assign_stories, story_counts
    from .alerts import deliver_before_exit

    config = ctx.pipeline_config()
    check_nlp_model(config.settings)
    warn_seeds(config)
    with ctx.store() as store:
        matcher = build_matcher(store, config)
        todo = len(store.articles_needing_match(matcher.version))
        with feed_progress(todo, "matching") as progress:
            counts = run_matching(store, matcher, progress=progress)
            stories = story_counts(assign_stories(store, progress=progress))
        queue_alerts(store, config)  # a late match on an old story alerts too
        alerts_line = deliver_before_exit(store, config)
        events = store.match_count()
    out.print(f"{events_text(counts)}; {plural(events, 'current event')} from "
              f"{plural(len(matcher.profiles), 'seed')} in the log"
              + (f"; {stories_text(stories)}" if stories.articles else ""))
    if alerts_line is not None:
        out.print(alerts_line)


@click.command()
@click.argument("article_id", type=ROW_ID)
@click.option("--seed", "seed_id", metavar="ID", help="Only this seed.")
@pass_ctx
def explain(ctx: Context, article_id: int, seed_id: str | None) -> None:
    """Show why an article matched (or did not match) a seed: the score's breakdown, and
    who said what in it (speakers among the seed's entities marked)."""

    from ..entities import analysis_text
    from ..match import build_matcher

    config = ctx.pipeline_config()
    warn_seeds(config, matching=False)
    with ctx.existing_store() as store:
        rows = store.articles_by_id([article_id])
        if not rows:
            raise SpaceWatchError(f"no article with id {article_id}")
        matcher = build_matcher(store, config, record=False)
        mentions = store.mentions_for([article_id])[article_id]
        store_matches = store.matches_of(article_id)
        quotes = store.quotes_for([article_id])[article_id]
    row = rows[0]
    # An event in the log is shown as it was recorded; other seeds are scored now.
    stored = {m.seed_id: (m.score, m.explanation) for m in store_matches}
    results = [(r.seed_id, *stored.get(r.seed_id, (r.score, r.explanation)))
               for r in matcher.results(analysis_text(row["title"], row["text"]), mentions)]
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
        c, w = ex.components, ex.weights
        out.print(Text.assemble("\nseed ", (sid, "bold"), f": score {value:.3f} ({verdict}; "
                                f"threshold {matcher.threshold})"))
        if sid not in loaded:
            out.print("  as recorded: this seed no longer loads from seeds/")
        out.print(f"  = {w.entities} × entities {c.entities:.3f}"
                  f" + {w.lexical} × lexical {c.lexical:.3f}"
                  f" (cosine {c.cosine:.3f}) + {w.phrases} × phrases "
                  f"{c.phrases:.3f}")
        out.print("  entities: " + (", ".join(f"{e.name} ({e.kind}, weight "
                                              f"{e.weight}, ×{e.mentions})"
                                              for e in ex.entities) or "none shared"))
        out.print("  terms:    " + (", ".join(t.term for t in ex.terms) or "none"))
        out.print("  phrases:  " + (", ".join(f"{p.phrase} ×{p.count}"
                                              for p in ex.phrases) or "none"))
        for sentence in ex.evidence:
            out.print(f"  evidence: “{sentence}”")
    _who_said_what(quotes, {e.id for _sid, _v, ex in results for e in ex.entities})
    _how_resolved(mentions, row["published_at"])


def _how_resolved(mentions: list[Mention], day: str | None) -> None:
    """Each entity of the article once per way it was found: "Dmitry Bakanov (OFFICIAL) —
    by office: head of Roscosmos on 2025-07-15"."""
    if not mentions:
        out.print("\nentities: none found")
        return
    out.print(Text("\nentities (how each was resolved):", style="bold"))
    seen: set[tuple[str, str]] = set()
    for m in mentions:
        line = m.resolution(day)
        if (m.entity_id, line) not in seen:
            seen.add((m.entity_id, line))
            out.print(Text(f"  {m.name} ({m.kind}, {m.entity_id}) — {line}"))


def _who_said_what(quotes: list[Quote], seed_entities: set[str]) -> None:
    """The article's quotes, speaker — “words”; a speaker among the seeds' shared entities
    is marked (seed entity)."""
    if not quotes:
        out.print("\nwho said what: no attributed quotes")
        return
    out.print(Text("\nwho said what:", style="bold"))
    for q in quotes:
        mark = " (seed entity)" if q.speaker_entity_id in seed_entities else ""
        out.print(Text(f"  {q.speaker_name}{mark} — “{' '.join(q.text.split())}”"
                       + (" (reported)" if q.kind == "reported" else "")))

