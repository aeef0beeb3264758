"""``spacewatch entities list/merge/ban/promote``: the analyst's corrections, written to the
gazetteer overlay (:mod:`pipeline.curation`); registered under ``entities`` in
:mod:`pipeline.cli`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..records import GAZETTEER_KINDS
from .analysis import list_entities, listing_options, reprocess
from .context import Context, err, out, pass_ctx

if TYPE_CHECKING:  # pipeline.curation loads spaCy: imported by the commands that need it
    from ..curation import Written

_REPROCESS = click.option("--reprocess", "run_reprocess", is_flag=True,
                          help="Re-analyse the stored articles now (as `spacewatch reprocess`).")


@click.command(name="list")
@listing_options
@pass_ctx
def list_(ctx: Context, kind: str | None, since: str | None, limit: int) -> None:
    """List the most-mentioned entities (what `spacewatch entities` alone does)."""
    list_entities(ctx, kind, since, limit)


@click.command()
@click.argument("source", metavar="FROM_ID")
@click.argument("target", metavar="INTO_ID")
@_REPROCESS
@pass_ctx
def merge(ctx: Context, source: str, target: str, run_reprocess: bool) -> None:
    """Make FROM_ID a spelling of INTO_ID: every mention of FROM_ID becomes one of INTO_ID.

    Written to the gazetteer overlay (settings.gazetteer_overlay); stored mentions follow
    at `spacewatch reprocess` (or with --reprocess). The event log is not touched.
    """
    from .. import curation

    with ctx.store() as store:
        written = curation.merge(ctx.settings(), store, source, target)
    _report(f"merged {source} into {target}", written, run_reprocess)


@click.command()
@click.argument("value", metavar="ID")
@click.option("--surface", is_flag=True,
              help="ID is a text: never link a mention written so, whatever its entity.")
@_REPROCESS
@pass_ctx
def ban(ctx: Context, value: str, surface: bool, run_reprocess: bool) -> None:
    """Never link or store the entity ID (junk the model found), or with --surface any
    mention of that text.

    Written to the gazetteer overlay; stored mentions go at `spacewatch reprocess` (or
    with --reprocess).
    """
    from .. import curation

    with ctx.store() as store:
        written = curation.ban(ctx.settings(), store, value, surface=surface)
    what = f"text {value!r}" if surface else value
    _report(f"banned {what}", written, run_reprocess)


@click.command()
@click.argument("entity_id", metavar="ID")
@click.option("--kind", type=click.Choice(GAZETTEER_KINDS, case_sensitive=False),
              help="Its gazetteer kind (needed for a PERSON, ORGANIZATION or PLACE).")
@click.option("--name", help="Its canonical name (default: the stored name).")
@click.option("--alias", "aliases", multiple=True, metavar="TEXT",
              help="One more alias (repeat the option for more).")
@click.option("--id", "new_id", metavar="NEW_ID",
              help="Its gazetteer id (default: the name as a slug, e.g. jane-doe).")
@_REPROCESS
@pass_ctx
def promote(ctx: Context, entity_id: str, kind: str | None, name: str | None,
            aliases: tuple[str, ...], new_id: str | None, run_reprocess: bool) -> None:
    """Make a model entity (person:…, org:…) a gazetteer entity in the overlay.

    Its stored name and the texts it was found as become its aliases (and --alias ones);
    its old id is merged into the new one, so its stored mentions follow at
    `spacewatch reprocess` (or with --reprocess).
    """
    from .. import curation

    with ctx.store() as store:
        done = curation.promote(ctx.settings(), store, entity_id, kind=kind, name=name,
                                aliases=aliases, new_id=new_id)
    aka = ", ".join(done.aliases)
    _report(f"promoted {entity_id} to {done.id} ({done.kind} {done.name!r}; aliases: {aka})",
            done.written, run_reprocess)


def _report(what: str, written: Written, run_reprocess: bool) -> None:
    for note in written.notes:
        err.print(note)
    backup = f" (previous version: {written.backup})" if written.backup else ""
    out.print(f"{what}: wrote {written.path}{backup}")
    if run_reprocess:
        click.get_current_context().invoke(reprocess, everything=False)
    else:
        out.print("run `spacewatch reprocess` to apply it to the stored articles")
