"""Commands for stories: ``story ID`` (a timeline), ``story list``, ``story merge``,
``story split``."""

from __future__ import annotations

import textwrap
from typing import Any

import click
from rich.text import Text

from ..errors import InputError
from ..records import Quote, plural
from ..store import Store
from ..store.stories import StoryArticle, StoryRow
from ..stories import StoryExplanation, merge_stories, split_story
from .context import ROW_ID, Context, Limit, day_start, out, pass_ctx
from .render import add_columns, cell, new_table

WIDTH = 78


class _StoryGroup(click.Group):
    """``story 12`` is ``story show 12``: a first word that is no subcommand is a story id."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_StoryGroup)
def story() -> None:
    """Stories: the articles that report one event, across outlets and languages.

    `spacewatch story ID` shows a story's timeline (first report, follow-ups and why each
    joined, key actors, who said what, its score against each seed, linked stories);
    `story list` lists them; `story merge` and `story split` correct the grouping (a later
    pass never undoes them).
    """


def _wrap(text: str, indent: str = "    ") -> str:
    return textwrap.fill(" ".join(text.split()), WIDTH, initial_indent=indent,
                         subsequent_indent=indent)


def _day(value: str) -> str:
    """``2026-03-10 09:00`` from a stored UTC time."""
    return value[:16].replace("T", " ")


def _langs(row: StoryRow) -> str:
    return ", ".join(row.languages) or "language unknown"


def _figures(row: StoryRow) -> str:
    return (f"{plural(row.article_count, 'article')}, {plural(row.outlet_count, 'outlet')}, "
            f"{_langs(row)}")


def _why(item: StoryArticle, names: dict[str, str]) -> str:
    """Why an article is in its story, in one line."""
    try:
        ex = StoryExplanation.from_json(item.explanation)
    except ValueError:
        return "why: (unreadable explanation)"
    if ex.decision in ("started", "follow-up"):
        return "first report" + (f" (follows story {ex.follows_story_id})"
                                 if ex.follows_story_id else "")
    if ex.decision in ("merge", "split"):
        return f"by the analyst: {ex.reason}"
    shared = ", ".join(names.get(k.key[2:], k.key[2:]) for k in ex.entities[:4]) or "none"
    terms = ", ".join(k.key[2:] for k in ex.terms[:4]) or "none"
    days = f"; {ex.days_apart:g} days after the story's last report" \
        if ex.days_apart is not None else ""
    grew = "".join(f"; {g}" for g in ex.growth)
    return (f"joined ({ex.similarity:.2f} ≥ {ex.threshold:g}): entities {shared}; "
            f"terms {terms}{days}{grew}")


@story.command(name="show")
@click.argument("story_id", type=ROW_ID)
@pass_ctx
def show(ctx: Context, story_id: int) -> None:
    """Show a story: its timeline, key actors, who said what, scores, linked stories."""
    with ctx.reader() as store:
        row = store.story(story_id)
        if row is None:
            raise InputError(f"no story with id {story_id}")
        if row.merged_into is not None:
            raise InputError(f"story {story_id} was merged into story {row.merged_into} "
                             f"(see spacewatch story {row.merged_into})")
        detail = _detail(store, row)
    _print_story(row, detail)


def _detail(store: Store, row: StoryRow) -> dict[str, Any]:
    items = store.story_articles(row.id)
    keys: set[str] = set()
    for item in items:
        try:
            keys.update(k.key[2:] for k in StoryExplanation.from_json(item.explanation).entities)
        except ValueError:
            continue
    ids = [i.article_id for i in items]
    return {"items": items, "names": store.entity_names(sorted(keys)),
            "actors": store.story_actors(row.id), "quotes": store.quotes_for(ids) if ids else {},
            "scores": store.story_seed_scores(row.id),
            "follows": store.story(row.follows_story_id) if row.follows_story_id else None,
            "followed_by": store.stories_following(row.id)}


def _print_story(row: StoryRow, detail: dict[str, Any]) -> None:
    out.print(Text(_wrap(f"story {row.id}: {row.headline}", ""), style="bold"))
    out.print(_wrap(_figures(row), "  "))
    out.print(_wrap(f"first seen {_day(row.first_seen)} UTC, last updated "
                    f"{_day(row.last_updated)} UTC", "  "))
    follows: StoryRow | None = detail["follows"]
    if follows is not None:
        out.print(_wrap(f"follows story {follows.id} ({_day(follows.first_seen)[:10]}): "
                        f"{follows.headline}", "  "))
    for later in detail["followed_by"]:
        out.print(_wrap(f"followed by story {later.id} ({_day(later.first_seen)[:10]}): "
                        f"{later.headline}", "  "))
    out.print(Text("\ntimeline:", style="bold"))
    for item in detail["items"]:
        out.print(_wrap(f"{_day(item.published_at)}  {item.outlet} ({item.language or '?'})  "
                        f"#{item.article_id}  {item.title}", "  "))
        out.print(_wrap(_why(item, detail["names"]), "      "))
    actors = detail["actors"]
    out.print(Text("\nkey actors:", style="bold"))
    out.print(_wrap(", ".join(f"{name} ({kind}, {n})" for name, kind, n in actors)
                    or "none named", "  "))
    quotes: dict[int, list[Quote]] = detail["quotes"]
    said = [(aid, q) for aid, qs in quotes.items() for q in qs]
    out.print(Text("\nwho said what:", style="bold"))
    if not said:
        out.print("  no attributed quotes")
    for aid, q in said[:12]:
        out.print(_wrap(f"{q.speaker_name} — “{q.text}” (#{aid})", "  "))
    out.print(Text("\nscore against each seed:", style="bold"))
    if not detail["scores"]:
        out.print("  no seed matches any of its articles")
    for seed, value, aid in detail["scores"]:
        out.print(_wrap(f"{seed}: {value:.3f} (best article #{aid})", "  "))


@story.command(name="list")
@click.option("--since", metavar="YYYY-MM-DD",
              help="Only stories updated since this day (in digest_timezone).")
@click.option("--seed", "seed_id", metavar="ID", help="Only stories matching this seed.")
@click.option("--limit", default=30, show_default=True, type=Limit(),
              help="How many stories to list.")
@pass_ctx
def list_(ctx: Context, since: str | None, seed_id: str | None, limit: int) -> None:
    """List stories, most recently updated first, with their best seed score."""
    since_utc = day_start(since, ctx.settings()) if since else None
    with ctx.reader() as store:
        if seed_id and not store.seed_exists(seed_id):
            raise InputError(f"no seed with id {seed_id!r}")
        rows = store.list_stories(since_utc, seed_id, limit)
    if not rows:
        out.print("no stories" + (" for that seed" if seed_id else "")
                  + (f" updated since {since}" if since else ""))
        return
    table = new_table()
    add_columns(table, ["id", "updated", "arts", "outl", "lang", "best", "headline"],
                right=["id", "arts", "outl", "best"], whole=["updated", "lang"])
    for row, best in rows:
        table.add_row(cell(row.id), cell(_day(row.last_updated)[:10]), cell(row.article_count),
                      cell(row.outlet_count), cell(",".join(row.languages)),
                      cell(f"{best:.2f}" if best is not None else ""), cell(row.headline))
    out.print(table)


@story.command()
@click.argument("into", type=ROW_ID, metavar="A")
@click.argument("other", type=ROW_ID, metavar="B")
@pass_ctx
def merge(ctx: Context, into: int, other: int) -> None:
    """Merge story B into story A: B's articles move to A, B is marked merged into A."""
    with ctx.existing_store() as store:
        moved = len(store.story_article_ids(other))
        merge_stories(store, into, other)
        row = store.story(into)
    assert row is not None
    out.print(f"story {other} merged into story {into} ({plural(moved, 'article')} moved); "
              f"story {into}: {_figures(row)}")


@story.command()
@click.argument("story_id", type=ROW_ID, metavar="ID")
@click.argument("article_ids", type=ROW_ID, nargs=-1, required=True, metavar="ARTICLE_ID...")
@pass_ctx
def split(ctx: Context, story_id: int, article_ids: tuple[int, ...]) -> None:
    """Split the given articles off story ID into a new story."""
    with ctx.existing_store() as store:
        new_id = split_story(store, story_id, article_ids)
        row = store.story(new_id)
    assert row is not None
    out.print(f"{plural(len(set(article_ids)), 'article')} split off story {story_id} into "
              f"new story {new_id}: {_figures(row)}")
