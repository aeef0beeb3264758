"""``spacewatch feeds import`` / ``feeds export``: subscriptions in and out as OPML."""

from __future__ import annotations

import difflib
import sys
from datetime import date
from pathlib import Path

import click
from rich.text import Text

from ..config import load_config
from ..errors import ConfigError, InputError, SpaceWatchError
from ..opml import (
    MAX_OPML_BYTES,
    ImportPlan,
    appended_config,
    entries_yaml,
    plan_import,
    read_opml,
    replace_config,
    write_opml,
)
from ..records import now_utc, plural
from .context import Context, err, out, pass_ctx


@click.group()
def feeds() -> None:
    """Move subscriptions between SpaceWatch and feed readers as OPML files.

    OPML is what every feed reader imports and exports: names, feed URLs, site links and
    folders (which become the feeds' tags, and back).
    """


@feeds.command("import")
@click.argument("opml_file", metavar="FILE.opml", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True,
              help="Show what would be added (and the YAML) without changing feeds.yaml.")
@pass_ctx
def import_opml(ctx: Context, opml_file: str, dry_run: bool) -> None:
    """Add the feeds of an OPML file to feeds.yaml.

    Only new feeds are added, appended to the 'feeds:' list with everything already in the
    file kept as written; the previous file is kept as feeds.yaml.bak. A feed already
    subscribed (the same URL once canonicalised) is skipped; one whose name is taken by a
    feed at another URL is a conflict, left out. Folders become tags. Exit code 1 when
    part of the file was not imported (a conflict, an outline that is no feed).
    """
    path = Path(opml_file)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_OPML_BYTES + 1)  # read_opml refuses a larger file
    except OSError as exc:
        raise InputError(f"{path}: cannot read the OPML file: {exc.strerror or exc}") from None
    opml = read_opml(data, source=str(path))
    config_path = ctx.config_path
    exists = config_path.exists()
    config = load_config(config_path) if exists else None
    plan = plan_import(opml, config)
    note = f"imported from {path.name} on {date.today().isoformat()}"
    text = config_path.read_text(encoding="utf-8") if exists else None
    new_text: str | None = None
    refusal = ""
    if plan.added:
        try:  # before anything is printed: a refusal is the command's one line
            new_text = appended_config(text, plan.added, note=note, source=str(config_path))
        except ConfigError as exc:
            if not dry_run:
                raise
            refusal = str(exc)
    folders = f" in {plural(opml.folders, 'folder')}" if opml.folders else ""
    out.print(f"{path}: {plural(len(opml.subscriptions), 'feed')}{folders}")
    _print_plan(plan)
    if not plan.added:
        out.print(f"{config_path}: nothing to add, unchanged ({_tally(plan)})")
    elif dry_run:
        if new_text is None:
            out.print(f"dry run: {refusal}; the entries to add by hand:")
            out.print(Text(entries_yaml(plan.added, note=note), style="dim"))
        else:
            out.print(f"dry run: the change to {config_path}:")
            diff = difflib.unified_diff((text or "").splitlines(keepends=True),
                                        new_text.splitlines(keepends=True),
                                        str(config_path), f"{config_path} (imported)")
            out.print(Text("".join(diff).rstrip("\n"), style="dim"))
        out.print(f"dry run: {plural(len(plan.added), 'feed')} would be added "
                  f"({_tally(plan)}); nothing written")
    elif new_text is not None:
        backup = replace_config(config_path, new_text)
        kept = f"; the previous file is {backup}" if backup else ""
        out.print(f"{config_path}: {plural(len(plan.added), 'feed')} added "
                  f"({_tally(plan)}){kept}")
    if plan.conflicts or plan.skipped:
        sys.exit(1)


def _print_plan(plan: ImportPlan) -> None:
    for feed in plan.added:
        sub = feed.subscription
        line = Text.assemble(("+ ", "green"), feed.name, f"  {sub.url}")
        if sub.tags:
            line.append(f"  tags: {', '.join(sub.tags)}", "dim")
        if feed.renamed:
            line.append(f"  (OPML name {sub.name!r})", "dim")
        out.print(line)
    for item in plan.duplicates:
        out.print(Text.assemble(("= ", "dim"), item.subscription.name or item.subscription.url,
                                f"  {item.subscription.url}: {item.reason}"))
    for item in plan.conflicts:
        err.print(Text.assemble(("conflict:", "yellow"), f" {item.subscription.name!r} "
                                f"{item.subscription.url}: {item.reason}"))
    for merged in plan.merged:
        out.print(Text.assemble(("merged: ", "dim"), merged))
    for skipped in plan.skipped:
        err.print(Text.assemble(("skipped:", "yellow"), f" {skipped}"))


def _tally(plan: ImportPlan) -> str:
    parts = [f"{len(plan.duplicates)} already subscribed",
             plural(len(plan.conflicts), "conflict"),
             f"{plural(len(plan.skipped), 'outline')} skipped"]
    return ", ".join(parts)


@feeds.command("export")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="Write the OPML to FILE instead of stdout.")
@pass_ctx
def export_opml(ctx: Context, out_path: str | None) -> None:
    """Write the feeds of feeds.yaml as an OPML 2.0 file for a feed reader.

    Each feed keeps its name, URL, site link and language; its first tag is its folder,
    and a feed with several tags lists them all as OPML categories, so 'feeds import'
    gives back the same tags. Disabled feeds are exported too.
    """
    config = ctx.config
    data = write_opml(config.feeds, created=now_utc())
    if out_path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    target = Path(out_path)
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise SpaceWatchError(f"--out {target}: cannot write the OPML file: "
                              f"{exc.strerror or exc}") from None
    err.print(f"{plural(len(config.feeds), 'feed')} exported to {target}")
