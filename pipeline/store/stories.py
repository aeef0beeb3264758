"""What the story stage reads and writes: ``stories``, ``story_articles`` and the assignment
index ``story_keys`` (see :mod:`pipeline.stories`). Each write is one transaction the method
owns; every read of the index is bounded (a key's most recent stories, never all of them)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .base import StoreBase

#: Speakers of these kinds, quoted for the first time in a story, are "growth".
OFFICIAL_KINDS = ("OFFICIAL",)


@dataclass(frozen=True)
class Candidate:
    """A story the index offered for an article, with its own weight per key."""

    story_id: int
    first_seen: str
    last_updated: str
    languages: tuple[str, ...]
    keys: Mapping[str, float]


@dataclass(frozen=True)
class StoryRow:
    """One story's stored counters."""

    id: int
    headline: str
    first_seen: str
    last_updated: str
    article_count: int
    outlet_count: int
    languages: tuple[str, ...]
    follows_story_id: int | None
    merged_into: int | None


@dataclass(frozen=True)
class StoryArticle:
    """One article of a story, as its timeline shows it."""

    article_id: int
    title: str
    url: str | None
    outlet: str
    language: str | None
    published_at: str
    similarity: float | None
    explanation: str
    assigned_by: str


def _story(row: Sequence[Any]) -> StoryRow:
    return StoryRow(id=row[0], headline=row[1], first_seen=row[2], last_updated=row[3],
                    article_count=row[4], outlet_count=row[5],
                    languages=tuple(json.loads(row[6] or "[]")), follows_story_id=row[7],
                    merged_into=row[8])


_STORY_COLUMNS = ("id, headline, first_seen, last_updated, article_count, outlet_count, "
                  "languages, follows_story_id, merged_into")


class StoryTables(StoreBase):
    """Stories, the articles in them and the key index they are found by."""

    # -- the automatic stage -----------------------------------------------------------------

    def articles_needing_story(self) -> list[dict[str, Any]]:
        """Analysed articles in no story yet, in publication order (the order they are
        placed in, so a rewrite finds the report it rewrites)."""
        return self.rows(
            "SELECT a.id, a.title, a.text, a.language, a.published_at FROM articles a "
            "WHERE a.nlp_version IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM story_articles sa WHERE sa.article_id = a.id) "
            "ORDER BY a.published_at, a.id")

    def unplaced_after(self, article_id: int) -> bool:
        """Whether an analysed article with an id above ``article_id`` is in no story: a
        range read of the primary key from there, stopped at the first one found."""
        return self.scalar(
            "SELECT 1 FROM articles a WHERE a.id > ? AND a.nlp_version IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM story_articles sa WHERE sa.article_id = a.id) "
            "LIMIT 1", (article_id,)) is not None

    def last_article_id(self) -> int:
        """The highest article id stored (0: none)."""
        return int(self.scalar("SELECT coalesce(max(id), 0) FROM articles") or 0)

    def recent_story_count(self, since: str) -> int:
        """Stories (not merged away) whose last article is at or after ``since``."""
        return self.scalar("SELECT count(*) FROM stories WHERE last_updated >= ? "
                           "AND merged_into IS NULL", (since,)) or 0

    def story_key_df(self, keys: Sequence[str], since: str, cap: int) -> dict[str, int]:
        """In how many stories seen since ``since`` each key occurs, counted up to ``cap``
        (a bounded read of the index per key)."""
        sql = ("SELECT count(*) FROM (SELECT 1 FROM story_keys WHERE key = ? AND last_seen >= ? "
               "LIMIT ?)")
        out = {}
        for key in keys:
            n = self.conn.execute(sql, (key, since, cap)).fetchone()[0]
            if n:
                out[key] = n
        return out

    def story_candidates(self, weights: Mapping[str, float], since: str, per_key: int,
                         shortlist: int) -> list[Candidate]:
        """The stories sharing the most key weight with an article: for each key, the
        ``per_key`` stories that saw it most recently since ``since``; the best
        ``shortlist`` of them by shared weight, with all their keys."""
        shared: dict[int, float] = {}
        sql = ("SELECT story_id FROM story_keys WHERE key = ? AND last_seen >= ? "
               "ORDER BY last_seen DESC LIMIT ?")
        for key, weight in weights.items():
            for (story_id,) in self.conn.execute(sql, (key, since, per_key)):
                shared[story_id] = shared.get(story_id, 0.0) + weight
        best = sorted(shared, key=lambda s: (-shared[s], s))[:shortlist]
        if not best:
            return []
        marks = ",".join("?" * len(best))
        keys: dict[int, dict[str, float]] = {s: {} for s in best}
        for story_id, key, weight in self.conn.execute(
                f"SELECT story_id, key, weight FROM story_keys WHERE story_id IN ({marks})",
                best):
            keys[story_id][key] = weight
        return [Candidate(story_id=r[0], first_seen=r[1], last_updated=r[2],
                          languages=tuple(json.loads(r[3] or "[]")), keys=keys[r[0]])
                for r in self.conn.execute(
                    f"SELECT id, first_seen, last_updated, languages FROM stories "
                    f"WHERE id IN ({marks}) AND merged_into IS NULL ORDER BY id", best)]

    def place_article(self, article_id: int, story_id: int | None, *, similarity: float,
                      explanation: str, keys: Mapping[str, float], now: str,
                      follows_story_id: int | None = None) -> int:
        """Put one article in a story (``story_id``) or in a new one (None, following
        ``follows_story_id``), with its keys and the story's counters, in one transaction.
        Returns the story's id."""
        with self.transaction() as conn:
            published = conn.execute("SELECT published_at FROM articles WHERE id = ?",
                                     (article_id,)).fetchone()[0]
            if story_id is None:
                story_id = _new_story(conn, published, now, follows_story_id)
            conn.execute("INSERT INTO story_articles (article_id, story_id, joined_at, "
                         "similarity, explanation, assigned_by) VALUES (?, ?, ?, ?, ?, 'auto')",
                         (article_id, story_id, now, similarity, explanation))
            _add_keys(conn, story_id, {k: (w, published) for k, w in keys.items()})
            _refresh(conn, story_id)
        return story_id

    def story_growth(self, story_id: int, article_id: int) -> list[str]:
        """What an article would bring a story that it has not had: its language, officials
        quoted (``new language: ru``, ``new official quoted: person:x``)."""
        return _growth(self.conn, story_id, article_id)

    # -- the analyst's moves -----------------------------------------------------------------

    def merge_stories(self, into: int, other: int, explanation: str, now: str) -> None:
        """Move every article of story ``other`` into ``into`` (``assigned_by = 'merge'``),
        with its keys; ``other`` is left empty, ``merged_into`` set."""
        with self.transaction() as conn:
            conn.execute("UPDATE story_articles SET story_id = ?, assigned_by = 'merge', "
                         "joined_at = ?, explanation = ? WHERE story_id = ?",
                         (into, now, explanation, other))
            moved = {r[0]: (r[1], r[2]) for r in conn.execute(
                "SELECT key, weight, last_seen FROM story_keys WHERE story_id = ?", (other,))}
            _add_keys(conn, into, moved)
            conn.execute("DELETE FROM story_keys WHERE story_id = ?", (other,))
            conn.execute("UPDATE stories SET merged_into = ? WHERE id = ?", (into, other))
            conn.execute("UPDATE stories SET merged_into = ? WHERE merged_into = ?",
                         (into, other))
            _refresh(conn, into)
            _refresh(conn, other)

    def split_story(self, story_id: int, article_ids: Sequence[int], explanation: str,
                    now: str, kept_keys: Mapping[str, tuple[float, str]],
                    moved_keys: Mapping[str, tuple[float, str]]) -> int:
        """Move ``article_ids`` out of ``story_id`` into a new story (``assigned_by =
        'split'``) and rebuild both stories' keys (key -> (weight, last seen)) from those of
        the articles each keeps; returns the new story's id."""
        with self.transaction() as conn:
            first = min(conn.execute(
                f"SELECT published_at FROM articles WHERE id IN "
                f"({','.join('?' * len(article_ids))})", list(article_ids)).fetchall())[0]
            new_id = _new_story(conn, first, now, None)
            conn.executemany("UPDATE story_articles SET story_id = ?, assigned_by = 'split', "
                             "joined_at = ?, explanation = ? WHERE article_id = ?",
                             [(new_id, now, explanation, a) for a in article_ids])
            for sid in (story_id, new_id):
                conn.execute("DELETE FROM story_keys WHERE story_id = ?", (sid,))
            _add_keys(conn, story_id, kept_keys)
            _add_keys(conn, new_id, moved_keys)
            _refresh(conn, story_id)
            _refresh(conn, new_id)
        return new_id

    # -- reading -----------------------------------------------------------------------------

    def story(self, story_id: int) -> StoryRow | None:
        """One story's counters (None: no such story)."""
        row = self.conn.execute(f"SELECT {_STORY_COLUMNS} FROM stories WHERE id = ?",
                                (story_id,)).fetchone()
        return _story(row) if row else None

    def story_of(self, article_id: int) -> int | None:
        """The story an article is in (None: in none yet)."""
        value: int | None = self.scalar("SELECT story_id FROM story_articles "
                                        "WHERE article_id = ?", (article_id,))
        return value

    def story_articles(self, story_id: int) -> list[StoryArticle]:
        """A story's articles in publication order, with why each is there."""
        return [StoryArticle(article_id=r[0], title=r[1], url=r[2], outlet=_outlet(r[3], r[2]),
                             language=r[4], published_at=r[5], similarity=r[6],
                             explanation=r[7], assigned_by=r[8])
                for r in self.conn.execute(
                    "SELECT a.id, a.title, a.url, f.name, a.language, a.published_at, "
                    "sa.similarity, sa.explanation, sa.assigned_by FROM story_articles sa "
                    "JOIN articles a ON a.id = sa.article_id "
                    "LEFT JOIN feeds f ON f.id = a.feed_id WHERE sa.story_id = ? "
                    "ORDER BY a.published_at, a.id", (story_id,))]

    def story_actors(self, story_id: int, limit: int = 8) -> list[tuple[str, str, int]]:
        """(name, kind, articles naming it) of the story's most-named actors (not places)."""
        return [(r[0], r[1], r[2]) for r in self.conn.execute(
            "SELECT e.name, e.kind, count(DISTINCT m.article_id) AS n FROM story_articles sa "
            "JOIN mentions m ON m.article_id = sa.article_id JOIN entities e ON e.id = m.entity_id "
            "WHERE sa.story_id = ? AND e.kind NOT IN ('PLACE', 'COUNTRY') "
            "GROUP BY e.id ORDER BY n DESC, count(*) DESC, e.name LIMIT ?", (story_id, limit))]

    def story_seed_scores(self, story_id: int) -> list[tuple[str, float, int]]:
        """(seed, best current score, article id) for each seed a story's articles match."""
        return [(r[0], r[1], r[2]) for r in self.conn.execute(
            "SELECT m.seed_id, max(m.score), m.article_id FROM story_articles sa "
            "JOIN matches m ON m.article_id = sa.article_id JOIN seeds s ON s.id = m.seed_id "
            "WHERE sa.story_id = ? AND m.superseded_at IS NULL AND m.status = 'match' "
            "AND s.retired_at IS NULL GROUP BY m.seed_id ORDER BY max(m.score) DESC, m.seed_id",
            (story_id,))]

    def stories_following(self, story_id: int) -> list[StoryRow]:
        """The later stories linked to this one as its follow-ups."""
        return [_story(r) for r in self.conn.execute(
            f"SELECT {_STORY_COLUMNS} FROM stories WHERE follows_story_id = ? "
            "AND merged_into IS NULL ORDER BY first_seen, id", (story_id,))]

    def list_stories(self, since: str | None = None, seed: str | None = None,
                     limit: int = 30) -> list[tuple[StoryRow, float | None]]:
        """Stories (not merged away) updated since ``since``, newest first, each with its
        best current score (against ``seed`` only, which then must match)."""
        where = ["s.merged_into IS NULL", "s.article_count > 0"]
        params: list[Any] = []
        if since:
            where.append("s.last_updated >= ?")
            params.append(since)
        seed_clause = "AND m.seed_id = ?" if seed else ""
        best = ("(SELECT max(m.score) FROM story_articles sa JOIN matches m "
                "ON m.article_id = sa.article_id JOIN seeds sd ON sd.id = m.seed_id "
                "WHERE sa.story_id = s.id AND m.superseded_at IS NULL AND m.status = 'match' "
                f"AND sd.retired_at IS NULL {seed_clause})")
        if seed:
            where.append(f"{best} IS NOT NULL")
        cols = ", ".join(f"s.{c.strip()}" for c in _STORY_COLUMNS.split(","))
        sql = (f"SELECT {cols}, {best} FROM stories s WHERE {' AND '.join(where)} "
               "ORDER BY s.last_updated DESC, s.id DESC LIMIT ?")
        args = ([seed] if seed else []) + params + ([seed] if seed else []) + [limit]
        return [(_story(r[:9]), r[9]) for r in self.conn.execute(sql, args)]

    def story_article_rows(self, article_ids: Sequence[int]) -> list[dict[str, Any]]:
        """id, title, text, language, published_at of these articles (a split rebuilds the
        keys from them)."""
        marks = ",".join("?" * len(article_ids))
        return self.rows(f"SELECT id, title, text, language, published_at FROM articles "
                         f"WHERE id IN ({marks}) ORDER BY published_at, id", list(article_ids))

    def story_article_ids(self, story_id: int) -> list[int]:
        """The ids of a story's articles."""
        return [r[0] for r in self.conn.execute(
            "SELECT article_id FROM story_articles WHERE story_id = ? ORDER BY article_id",
            (story_id,))]

    def entity_names(self, ids: Sequence[str]) -> dict[str, str]:
        """Each entity id's stored name."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return {r[0]: r[1] for r in self.conn.execute(
            f"SELECT id, name FROM entities WHERE id IN ({marks})", list(ids))}

    def seed_exists(self, seed_id: str) -> bool:
        """Whether the seeds table knows this seed id."""
        return self.scalar("SELECT 1 FROM seeds WHERE id = ?", (seed_id,)) is not None


# -- inside a transaction ------------------------------------------------------------------


def _new_story(conn: sqlite3.Connection, published: str, now: str,
               follows: int | None) -> int:
    cursor = conn.execute(
        "INSERT INTO stories (headline, first_seen, last_updated, created_at, "
        "follows_story_id) VALUES ('', ?, ?, ?, ?)", (published, published, now, follows))
    return int(cursor.lastrowid or 0)


def _add_keys(conn: sqlite3.Connection, story_id: int,
              keys: Mapping[str, tuple[float, str]]) -> None:
    """Upsert keys (weight, last seen): weights add up (a story's weight on a key is the sum
    over its articles: the centroid, where what most of its reports share weighs most), the
    later time is kept."""
    conn.executemany(
        "INSERT INTO story_keys (key, story_id, last_seen, weight) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(key, story_id) DO UPDATE SET "
        "last_seen = max(last_seen, excluded.last_seen), weight = weight + excluded.weight",
        [(k, story_id, seen, round(w, 4)) for k, (w, seen) in keys.items()])


def _growth(conn: sqlite3.Connection, story_id: int, article_id: int) -> list[str]:
    """What the article brings the story that it had not had: a language, officials quoted."""
    out = []
    languages = json.loads(conn.execute("SELECT languages FROM stories WHERE id = ?",
                                        (story_id,)).fetchone()[0] or "[]")
    language = conn.execute("SELECT language FROM articles WHERE id = ?",
                            (article_id,)).fetchone()[0]
    if language and language != "und" and language not in languages:
        out.append(f"new language: {language}")
    kinds = ",".join("?" * len(OFFICIAL_KINDS))
    speakers_sql = ("SELECT DISTINCT q.speaker_entity_id FROM quotes q JOIN entities e "
                    f"ON e.id = q.speaker_entity_id WHERE e.kind IN ({kinds}) AND ")
    before = {r[0] for r in conn.execute(
        speakers_sql + "q.article_id IN (SELECT article_id FROM story_articles "
        "WHERE story_id = ?)", (*OFFICIAL_KINDS, story_id))}
    for (speaker,) in conn.execute(speakers_sql + "q.article_id = ? ORDER BY 1",
                                   (*OFFICIAL_KINDS, article_id)):
        if speaker not in before:
            out.append(f"new official quoted: {speaker}")
    return out


def _outlet(feed: str | None, url: str | None) -> str:
    """Who published an article: its feed, or the host of an imported article's URL."""
    if feed:
        return feed
    host = urlsplit(url or "").hostname or ""
    return host.removeprefix("www.") or "import"


def _refresh(conn: sqlite3.Connection, story_id: int) -> None:
    """Recount a story from its articles. The headline is the representative article's
    title: the first report in English if there is one, else the first report."""
    rows = conn.execute(
        "SELECT a.id, a.title, a.language, a.published_at, a.url, f.name "
        "FROM story_articles sa JOIN articles a ON a.id = sa.article_id "
        "LEFT JOIN feeds f ON f.id = a.feed_id WHERE sa.story_id = ? "
        "ORDER BY a.published_at, a.id", (story_id,)).fetchall()
    if not rows:
        conn.execute("UPDATE stories SET article_count = 0, outlet_count = 0, "
                     "language_count = 0, languages = '[]' WHERE id = ?", (story_id,))
        return
    titled = [r for r in rows if (r[1] or "").strip()] or rows
    rep = next((r for r in titled if r[2] == "en"), titled[0])
    languages = sorted({r[2] for r in rows if r[2] and r[2] != "und"})
    outlets = {_outlet(r[5], r[4]) for r in rows}
    conn.execute(
        "UPDATE stories SET headline = ?, representative_article_id = ?, first_seen = ?, "
        "last_updated = ?, article_count = ?, outlet_count = ?, language_count = ?, "
        "languages = ? WHERE id = ?",
        ((rep[1] or "").strip() or "(untitled)", rep[0], rows[0][3], max(r[3] for r in rows),
         len(rows), len(outlets), len(languages), json.dumps(languages), story_id))
