"""What the analysis stages read and write: mentions and entities (NER), seeds and the
event log (matching). Each write is one transaction the method owns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import events
from ..events import ArticleScores, Current, EventCounts, Scoring, decide
from ..language import LanguageGuess
from ..records import Explanation, Mention, Quote
from .base import StoreBase


@dataclass(frozen=True)
class StoredMatch:
    """One of an article's current events."""

    seed_id: str
    score: float
    explanation: Explanation


@dataclass(frozen=True)
class TopEvent:
    """An event of the log with its article."""

    score: float
    title: str
    feed: str | None
    published_at: str
    explanation: Explanation


class AnalysisTables(StoreBase):
    """Mentions, entities, seeds and match events."""

    def articles_needing_nlp(self, version: str, max_attempts: int,
                             limit: int | None = None) -> list[dict[str, Any]]:
        """Articles never processed, or processed by another NLP version (oldest first);
        those that failed ``max_attempts`` times are left for a person to look at."""
        sql = ("SELECT id, title, text, language, language_source, published_at FROM articles "
               "WHERE (nlp_version IS NULL OR nlp_version != ?) AND nlp_attempts < ? "
               "AND (page_status IS NULL OR page_status != 'pending') ORDER BY id")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self.rows(sql, [version, max_attempts])

    def save_mentions(self, results: Sequence[tuple[int, list[Mention]]], version: str,
                      now: str, *, lemmas: Mapping[int, str] | None = None,
                      languages: Mapping[int, LanguageGuess] | None = None,
                      quotes: Mapping[int, Sequence[Quote]] | None = None) -> None:
        """Replace the mentions and quotes of each article and stamp its NLP version, in one
        transaction (an article never has half its mentions, nor quotes of older ones). The
        articles become stale for matching, which runs once every pending article has its
        mentions (see ``pipeline.ingest``).

        ``lemmas``: the lemma text the full-text index holds for each article (given, every
        article of ``results`` gets its own, empty when not Russian); ``languages``: a
        language identified at this analysis (articles stored before languages were);
        ``quotes``: who said what in each article (:mod:`pipeline.quotes`; an article without
        an entry keeps none)."""
        with self.transaction() as conn:
            for article_id, mentions in results:
                if lemmas is not None:
                    conn.execute("UPDATE articles SET lemmas = ? WHERE id = ? AND lemmas != ?",
                                 (lemmas.get(article_id, ""), article_id,
                                  lemmas.get(article_id, "")))
                if languages and article_id in languages:
                    guess = languages[article_id]
                    conn.execute("UPDATE articles SET language = ?, language_confidence = ?, "
                                 "language_source = ? WHERE id = ?",
                                 (guess.code, round(guess.confidence, 4), guess.source,
                                  article_id))
                conn.execute("DELETE FROM mentions WHERE article_id = ?", (article_id,))
                conn.execute("DELETE FROM quotes WHERE article_id = ?", (article_id,))
                conn.executemany(
                    "INSERT INTO quotes (article_id, speaker_entity_id, speaker_name, text, "
                    'kind, cue, start, "end", sentence_start, sentence_end, nlp_version) '
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(article_id, q.speaker_entity_id, q.speaker_name, q.text, q.kind, q.cue,
                      q.start, q.end, q.sentence_start, q.sentence_end, version)
                     for q in (quotes or {}).get(article_id, ())])
                for m in mentions:
                    conn.execute(
                        "INSERT INTO entities (id, name, kind, wikidata_id, origin, "
                        "first_seen_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                        "name = CASE WHEN entities.origin = 'gazetteer' THEN excluded.name "
                        "ELSE entities.name END, "
                        # A kind read from context (CREW, OFFICIAL, COMPANY, AGENCY) replaces
                        # the model's plain PERSON/ORGANIZATION, never the other way round.
                        "kind = CASE WHEN entities.origin = 'gazetteer' OR excluded.kind NOT IN "
                        "('PERSON', 'ORGANIZATION', 'PLACE') THEN excluded.kind "
                        "ELSE entities.kind END, "
                        "wikidata_id = excluded.wikidata_id",
                        (m.entity_id, m.name, m.kind, m.wikidata, m.origin, now))
                    conn.execute(
                        'INSERT INTO mentions (article_id, entity_id, surface, start, "end", '
                        "sentence, role, resolved_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (article_id, m.entity_id, m.surface, m.start, m.end, m.sentence, m.role,
                         m.resolved_by))
                conn.execute("UPDATE articles SET nlp_version = ?, nlp_at = ?, nlp_error = NULL, "
                             "match_version = NULL WHERE id = ?", (version, now, article_id))

    def model_people(self) -> list[tuple[str, str, str]]:
        """(id, name, kind) of every person the model found (not from the gazetteer): the
        names a new spelling of them is linked by."""
        return [(r[0], r[1], r[2]) for r in self.conn.execute(
            "SELECT id, name, kind FROM entities WHERE origin = 'model' AND id LIKE 'person:%' "
            "ORDER BY first_seen_at, id")]

    def reset_nlp(self) -> None:
        """Mark every article stale for the NLP stage (``reprocess --all``)."""
        with self.transaction() as conn:
            conn.execute("UPDATE articles SET nlp_version = NULL, nlp_attempts = 0, "
                         "match_version = NULL")

    def record_nlp_failure(self, article_id: int, error: str) -> None:
        """Count a failed NLP attempt on one article; it is retried on the next pass."""
        with self.transaction() as conn:
            conn.execute("UPDATE articles SET nlp_attempts = nlp_attempts + 1, nlp_error = ? "
                         "WHERE id = ?", (error[:500], article_id))

    def top_entities(self, kind: str | None = None, since: str | None = None,
                     limit: int = 30) -> list[dict[str, Any]]:
        """Entities by number of mentions (and of articles), optionally filtered."""
        where, params = [], []
        if kind:
            where.append("e.kind = ?")
            params.append(kind)
        if since:
            where.append("a.published_at >= ?")
            params.append(since)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        return self.rows(
            "SELECT e.id, e.name, e.kind, e.origin, count(*) AS mentions, "
            "count(DISTINCT m.article_id) AS articles FROM mentions m "
            "JOIN entities e ON e.id = m.entity_id JOIN articles a ON a.id = m.article_id "
            f"{clause} GROUP BY e.id ORDER BY mentions DESC, e.name LIMIT {int(limit)}", params)

    # -- seeds and matches -----------------------------------------------------------------

    def sync_seeds(self, rows: Sequence[dict[str, Any]], now: str,
                   skipped: Sequence[str] = ()) -> None:
        """Make the seeds table reflect ``seeds/`` (only matching runs call this; listing
        seeds writes nothing). A seed no longer there is retired, not deleted: its events
        stay in ``event_history`` but leave ``event_log`` and the digest; a seed that comes
        back is un-retired. A seed whose file is among ``skipped`` (files that failed
        validation) is not retired: it is being edited, not removed. An empty ``rows``
        retires nothing: no seed at all is far more often a wrong ``seeds_dir`` than the end
        of every story."""
        with self.transaction() as conn:
            for row in rows:
                conn.execute(
                    "INSERT INTO seeds (id, title, path, date, url, profile_version, profile, "
                    "updated_at) VALUES (:id, :title, :path, :date, :url, :profile_version, "
                    ":profile, :updated_at) ON CONFLICT(id) DO UPDATE SET title = :title, "
                    "path = :path, date = :date, url = :url, "
                    "profile_version = :profile_version, profile = :profile, "
                    "updated_at = :updated_at, retired_at = NULL", row)
            if not rows:
                return
            ids = {row["id"] for row in rows}
            invalid = {Path(p).resolve() for p in skipped}
            for seed_id, path in conn.execute(
                    "SELECT id, path FROM seeds WHERE retired_at IS NULL").fetchall():
                if seed_id not in ids and not (path and Path(path).resolve() in invalid):
                    conn.execute("UPDATE seeds SET retired_at = ? WHERE id = ?", (now, seed_id))

    def record_scores(self, batch: Sequence[ArticleScores], scoring: Scoring,
                      now: str) -> EventCounts:
        """Apply fresh scores to the event log, in one transaction (see ``pipeline.events``
        for the rule): first versions and later versions are inserted, a replaced version
        only gets its ``superseded_at``; nothing is updated otherwise, nothing deleted."""
        counts = EventCounts(rescored=len(batch))
        with self.transaction() as conn:
            for article in batch:
                current = {r[0]: Current(id=r[1], status=r[2], score=r[3], version=r[4])
                           for r in conn.execute(
                               "SELECT seed_id, id, status, score, version FROM matches "
                               "WHERE article_id = ? AND superseded_at IS NULL",
                               (article.article_id,))}
                for fresh in article.scores:
                    before = current.get(fresh.seed_id)
                    outcome = decide(before, fresh.score, scoring.threshold)
                    counts.add(outcome)
                    if outcome not in (events.NEW, events.NEW_VERSION, events.WITHDRAW):
                        continue
                    if before is not None:
                        conn.execute("UPDATE matches SET superseded_at = ? WHERE id = ?",
                                     (now, before.id))
                    conn.execute(
                        "INSERT INTO matches (article_id, seed_id, score, explanation, "
                        "matched_at, pipeline_version, status, version, seed_version, "
                        "scorer_version, corpus_version, supersedes) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (article.article_id, fresh.seed_id, fresh.score, fresh.explanation,
                         now, article.pipeline_version,
                         events.WITHDRAWN if outcome == events.WITHDRAW else events.MATCH,
                         before.version + 1 if before else 1, fresh.seed_version,
                         scoring.scorer_version, scoring.corpus_version,
                         before.id if before else None))
                conn.execute("UPDATE articles SET match_version = ? WHERE id = ?",
                             (scoring.match_version, article.article_id))
        return counts

    def match_count(self) -> int:
        """How many events the log holds now (current versions of live seeds' matches)."""
        return self.scalar("SELECT count(*) FROM event_log") or 0

    def matches_of(self, article_id: int) -> list[StoredMatch]:
        """One article's current events, as stored when they were matched."""
        return [StoredMatch(seed_id=r[0], score=r[1], explanation=Explanation.from_json(r[2]))
                for r in self.conn.execute(
                    "SELECT seed_id, score, explanation FROM matches WHERE article_id = ? "
                    "AND superseded_at IS NULL AND status = 'match'", (article_id,))]

    def top_events(self, limit: int = 5) -> list[TopEvent]:
        """The best-scoring events of the log."""
        return [TopEvent(score=r[0], title=r[1], feed=r[2], published_at=r[3],
                         explanation=Explanation.from_json(r[4]))
                for r in self.conn.execute(
                    "SELECT e.score, e.title, e.feed, e.published_at, m.explanation "
                    "FROM event_log e JOIN matches m ON m.id = e.event_id "
                    "ORDER BY e.score DESC LIMIT ?", (limit,))]

    def latest_event_published(self) -> str | None:
        """Publication time of the newest matched article (None with an empty log)."""
        published: str | None = self.scalar("SELECT max(published_at) FROM event_log")
        return published

    def articles_needing_match(self, version: str, limit: int | None = None) -> list[int]:
        """Processed articles whose matches were computed with other seeds or scorer."""
        sql = ("SELECT id FROM articles WHERE nlp_version IS NOT NULL AND "
               "(match_version IS NULL OR match_version != ?) ORDER BY id")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [r[0] for r in self.conn.execute(sql, (version,))]

    def articles_by_id(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(ids))
        return self.rows(f"SELECT id, title, text, nlp_version, language, published_at "
                         f"FROM articles "
                         f"WHERE id IN ({marks}) ORDER BY id", list(ids))

    def mentions_for(self, ids: Sequence[int]) -> dict[int, list[Mention]]:
        """Stored mentions of these articles, as :class:`Mention` records."""
        out: dict[int, list[Mention]] = {i: [] for i in ids}
        marks = ",".join("?" * len(ids))
        for r in self.rows(
                'SELECT m.article_id, m.entity_id, e.name, e.kind, e.origin, m.surface, '
                'm.start, m."end", m.sentence, m.role, m.resolved_by, e.wikidata_id '
                'FROM mentions m '
                f"JOIN entities e ON e.id = m.entity_id WHERE m.article_id IN ({marks}) "
                "ORDER BY m.article_id, m.start", list(ids)):
            out[r["article_id"]].append(Mention(
                entity_id=r["entity_id"], name=r["name"], kind=r["kind"], origin=r["origin"],
                surface=r["surface"], start=r["start"], end=r["end"], sentence=r["sentence"],
                role=r["role"], wikidata=r["wikidata_id"], resolved_by=r["resolved_by"]))
        return out

    def quotes_for(self, ids: Sequence[int]) -> dict[int, list[Quote]]:
        """Stored quotes of these articles, in text order, as :class:`Quote` records."""
        out: dict[int, list[Quote]] = {i: [] for i in ids}
        marks = ",".join("?" * len(ids))
        for r in self.rows(
                "SELECT article_id, speaker_entity_id, speaker_name, text, kind, cue, start, "
                f'"end", sentence_start, sentence_end FROM quotes WHERE article_id IN ({marks}) '
                "ORDER BY article_id, start, id", list(ids)):
            out[r["article_id"]].append(Quote(
                speaker_entity_id=r["speaker_entity_id"], speaker_name=r["speaker_name"],
                text=r["text"], kind=r["kind"], start=r["start"], end=r["end"],
                sentence_start=r["sentence_start"], sentence_end=r["sentence_end"],
                cue=r["cue"]))
        return out

    def background_sample(self, limit: int) -> tuple[int, list[str], dict[str, int]]:
        """(article count, texts of the latest ``limit`` articles, entity document counts).

        "Latest" is by publication time, ties broken by content: the sample (and so every
        score) depends on which articles are stored, never on the order they arrived in."""
        n = self.scalar("SELECT count(*) FROM articles") or 0
        texts = [r[0] + "\n" + r[1] for r in self.conn.execute(
            "SELECT title, text FROM articles ORDER BY published_at DESC, content_hash DESC "
            "LIMIT ?", (limit,))]
        df = {r[0]: r[1] for r in self.conn.execute(
            "SELECT entity_id, count(DISTINCT article_id) FROM mentions GROUP BY entity_id")}
        return n, texts, df
