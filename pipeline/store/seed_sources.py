"""Read-only SQL for ``spacewatch seeds add --story ID``: a story's articles, as records.

Takes a store as its first argument (like ``reports``); the ``stories`` and
``story_articles`` tables are filled by the stories stage (:mod:`pipeline.stories`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import Store

#: How many ``merged_into`` links are followed from the story asked for (a loop stops here).
MAX_MERGE_HOPS = 20


@dataclass(frozen=True)
class StoryArticle:
    """One article of a story, as a seed reads it."""

    id: int
    url: str | None
    title: str
    text: str
    published_at: str
    language: str | None


@dataclass(frozen=True)
class StorySource:
    """A story and its articles, first report first (by publication time, then id).

    ``story_id`` is the story the articles are in now: the one asked for, or the story it
    was merged into (``merged_from`` then names the one asked for)."""

    story_id: int
    headline: str
    articles: tuple[StoryArticle, ...]
    merged_from: int | None = None


def story_source(store: Store, story_id: int) -> StorySource | None:
    """The story ``story_id`` (followed to the story it was merged into) with its articles,
    or None when there is no such story."""
    current, asked = story_id, story_id
    row = None
    for _hop in range(MAX_MERGE_HOPS):
        found = store.rows("SELECT id, headline, merged_into FROM stories WHERE id = ?",
                           [current])
        if not found:
            return None
        row = found[0]
        if row["merged_into"] is None or row["merged_into"] == current:
            break
        current = int(row["merged_into"])
    if row is None:
        return None
    articles = store.rows(
        "SELECT a.id, a.url, a.title, a.text, a.summary, a.published_at, a.language "
        "FROM story_articles sa JOIN articles a ON a.id = sa.article_id "
        "WHERE sa.story_id = ? ORDER BY a.published_at, a.id", [current])
    return StorySource(
        story_id=current, headline=row["headline"] or "",
        articles=tuple(StoryArticle(id=a["id"], url=a["url"], title=a["title"] or "",
                                    text=a["text"] or a["summary"] or "",
                                    published_at=a["published_at"], language=a["language"])
                       for a in articles),
        merged_from=asked if current != asked else None)
