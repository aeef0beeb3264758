"""Stories, articles and match events written straight into a test database, so the alert
tests need no feed, no spaCy and no clustering: what the stages would have stored."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

from pipeline.records import iso, now_utc
from pipeline.store import Store

_ids = itertools.count(1)


@dataclass
class Stories:
    """``Stories(store).article(story, seed=..., score=...)`` adds one article to a story
    (creating it), with a current match event, its language, entities and quotes."""

    store: Store
    made: set[int] = field(default_factory=set)

    def article(self, story: int, *, seed: str = "iss", score: float = 0.8,
                language: str = "en", kinds: tuple[str, ...] = ("AGENCY",),
                quoted: tuple[tuple[str, str], ...] = (), feed: str = "wire",
                title: str | None = None, match: bool = True) -> int:
        """Add an article (and return its id); ``quoted``: (entity id, name) of OFFICIALs
        quoted in it; ``match``: give it a current event for ``seed``."""
        now = iso(now_utc())
        n = next(_ids)
        with self.store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO feeds (name, url, created_at) VALUES (?, ?, ?)",
                         (feed, f"http://127.0.0.1/{feed}.xml", now))
            feed_id = conn.execute("SELECT id FROM feeds WHERE name = ?", (feed,)).fetchone()[0]
            cur = conn.execute(
                "INSERT INTO articles (feed_id, url, guid, title, language, published_at, "
                "fetched_at, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (feed_id, f"https://news.example.org/{story}/{n}", f"g{n}",
                 title or f"Story {story}, report {n}", language, now, now, f"h{n}"))
            article = int(cur.lastrowid or 0)
            if story not in self.made:
                conn.execute("INSERT OR IGNORE INTO stories (id, headline, first_seen, "
                             "last_updated, created_at) VALUES (?, ?, ?, ?, ?)",
                             (story, f"Headline of story {story}", now, now, now))
                self.made.add(story)
            conn.execute("INSERT INTO story_articles (article_id, story_id, joined_at, "
                         "explanation) VALUES (?, ?, ?, '{}')", (article, story, now))
            for kind in kinds:
                entity = f"{kind.lower()}:x"
                conn.execute("INSERT OR IGNORE INTO entities (id, name, kind, origin) "
                             "VALUES (?, ?, ?, 'gazetteer')", (entity, f"An {kind}", kind))
                conn.execute("INSERT INTO mentions (article_id, entity_id, surface, start, "
                             "\"end\") VALUES (?, ?, 'x', 0, 1)", (article, entity))
            for entity, name in quoted:
                conn.execute("INSERT OR IGNORE INTO entities (id, name, kind, origin) "
                             "VALUES (?, ?, 'OFFICIAL', 'gazetteer')", (entity, name))
                conn.execute(
                    "INSERT INTO quotes (article_id, speaker_entity_id, speaker_name, text, "
                    "kind, cue, start, \"end\", sentence_start, sentence_end) "
                    "VALUES (?, ?, ?, 'We will go on.', 'direct', 'said', 0, 1, 0, 1)",
                    (article, entity, name))
        if match:
            self.match(article, seed, score)
        return article

    def match(self, article: int, seed: str, score: float) -> None:
        """A new current event for (article, seed), superseding the one before."""
        now = iso(now_utc())
        with self.store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO seeds (id, title) VALUES (?, ?)",
                         (seed, f"Seed {seed}"))
            old = conn.execute("SELECT id FROM matches WHERE article_id = ? AND seed_id = ? "
                               "AND superseded_at IS NULL", (article, seed)).fetchone()
            if old:
                conn.execute("UPDATE matches SET superseded_at = ? WHERE id = ?",
                              (now, old[0]))
            conn.execute("INSERT INTO matches (article_id, seed_id, score, explanation, "
                         "matched_at, pipeline_version, supersedes) VALUES (?, ?, ?, ?, ?, "
                         "'test', ?)", (article, seed, score, json.dumps({}), now,
                                        old[0] if old else None))
