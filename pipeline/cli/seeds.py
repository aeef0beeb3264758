"""``spacewatch seeds add``: a new seed from an article page, a local file or a story."""

from __future__ import annotations

import click
from rich.text import Text

from ..config import check_nlp_model
from ..errors import InputError
from .context import ROW_ID, Context, err, out, pass_ctx


@click.command(short_help="Write a new seed from a page (URL), a file or a story.")
@click.argument("source", required=False, metavar="[URL|FILE]")
@click.option("--story", "story_id", type=ROW_ID, metavar="ID",
              help="Seed from this story (spacewatch story list) instead of a URL or file.")
@click.option("--id", "seed_id", metavar="ID",
              help="The seed's id (default: from the title; a clash gets a -2 suffix).")
@click.option("--title", metavar="TEXT", help="The seed's title (default: the source's).")
@click.option("--dry-run", is_flag=True, help="Print the seed file instead of writing it.")
@click.option("--force", is_flag=True, help="Replace the seed that already has this id.")
@pass_ctx
def add(ctx: Context, source: str | None, story_id: int | None, seed_id: str | None,
        title: str | None, dry_run: bool, force: bool) -> None:
    """Write a new seed ("follow this") from an article page (URL, fetched and extracted
    like full text), a local text, Markdown or HTML FILE, or a stored story (--story ID):
    NNN_<id>.md in the seeds folder, front matter filled (id, title, date, url or
    source_file, entity boosts from the analyzer), then the text. The next pass scores
    new articles against it; `spacewatch rematch` re-scores the stored ones."""
    from ..entities import analysis_text, get_analyzer
    from ..seed_sources import (
        check_folder,
        check_id,
        is_url,
        plan_seed,
        seed_entities,
        text_from_file,
        text_from_story,
        text_from_url,
        write_seed,
    )
    from ..store.seed_sources import story_source

    if (source is None) == (story_id is None):
        raise click.UsageError("give one source: a URL, a FILE or --story ID")
    config = ctx.pipeline_config()
    check_nlp_model(config.settings)
    folder = config.seeds_folder
    if seed_id is not None:
        check_id(seed_id)
    if not dry_run:
        check_folder(folder)  # before anything is fetched or analysed
    if story_id is not None:
        if not ctx.db_path.exists():
            raise InputError(f"no story with id {story_id} (no database at {ctx.db_path})")
        with ctx.store() as store:
            found = story_source(store, story_id)
        text = text_from_story(found, story_id)
    elif is_url(source or ""):
        text = text_from_url(source or "", config.settings)
    else:
        text = text_from_file(source or "")
    mentions = get_analyzer(config.settings).analyze_one(
        analysis_text(title or text.title, text.text), date=text.date)
    draft, path = plan_seed(text, folder, seed_entities(mentions), seed_id=seed_id,
                            title=title, force=force)
    if dry_run:
        out.print(Text(draft.render()), end="")
        err.print(f"dry run: would write {path}")
        return
    replaced = path.exists()
    write_seed(draft, path)
    out.print(Text(f"{'replaced' if replaced else 'wrote'} {path} (seed {draft.id}: "
                   f"{draft.title})"))
    out.print("  entities: " + (", ".join(f"{eid} {weight}" for eid, weight
                                          in draft.entities.items()) or "none found"))
    if not draft.date:
        out.print("  date: none found on the source (add date: YYYY-MM-DD by hand)")
    out.print("The next pass (fetch, import, the daemon) scores new articles against it; "
              "run `spacewatch rematch` to score the stored articles now.")
