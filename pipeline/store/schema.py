"""The schema: named migrations (sqlite-utils ``Migrations``), applied in order at start-up.

Each migration runs in a transaction with the record of it having been applied; the number
applied is the schema version. Never edit a released migration: add a new one.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("spacewatch")


@migrations(name="0001_feeds_fetches_articles")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            url TEXT NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 1,
            interval_s REAL,
            tags TEXT,
            language TEXT,
            full_text INTEGER NOT NULL DEFAULT 0,
            etag TEXT,
            last_modified TEXT,
            last_status INTEGER,
            last_outcome TEXT,
            last_error TEXT,
            last_fetch_at TEXT,
            last_success_at TEXT,
            last_new_at TEXT,
            error_count INTEGER NOT NULL DEFAULT 0,
            next_fetch_at TEXT,
            disabled INTEGER NOT NULL DEFAULT 0,
            disabled_reason TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE fetches (
            id INTEGER PRIMARY KEY,
            feed_id INTEGER NOT NULL REFERENCES feeds(id),
            started_at TEXT NOT NULL,
            duration_ms INTEGER,
            http_status INTEGER,
            bytes INTEGER,
            entries INTEGER,
            new_articles INTEGER NOT NULL DEFAULT 0,
            updated_articles INTEGER NOT NULL DEFAULT 0,
            outcome TEXT NOT NULL,
            error TEXT,
            detail TEXT
        );
        CREATE INDEX fetches_feed_started ON fetches(feed_id, started_at);
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            feed_id INTEGER REFERENCES feeds(id),
            url TEXT UNIQUE,
            guid TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            summary TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL DEFAULT '',
            text_source TEXT NOT NULL DEFAULT 'feed',
            text_at TEXT,
            author TEXT,
            language TEXT,
            published_at TEXT NOT NULL,
            published_estimated INTEGER NOT NULL DEFAULT 0,
            fetched_at TEXT NOT NULL,
            updated_at TEXT,
            content_hash TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT 'feed',
            page_status TEXT,
            page_error TEXT,
            page_attempts INTEGER NOT NULL DEFAULT 0,
            nlp_version TEXT,
            nlp_at TEXT,
            nlp_error TEXT,
            nlp_attempts INTEGER NOT NULL DEFAULT 0,
            match_version TEXT
        );
        CREATE INDEX articles_published ON articles(published_at);
        CREATE INDEX articles_hash ON articles(content_hash);
        CREATE INDEX articles_feed ON articles(feed_id, published_at);
        CREATE TABLE article_sources (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            feed_id INTEGER REFERENCES feeds(id),
            guid TEXT NOT NULL,
            url TEXT,
            first_seen_at TEXT NOT NULL,
            UNIQUE (feed_id, guid)
        );
        CREATE INDEX article_sources_article ON article_sources(article_id);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT, updated_at TEXT);
        """
    )


@migrations(name="0002_entities_mentions")
def _m0002(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE entities (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            wikidata_id TEXT,
            origin TEXT NOT NULL,
            first_seen_at TEXT
        );
        CREATE INDEX entities_kind ON entities(kind);
        CREATE TABLE mentions (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            entity_id TEXT NOT NULL REFERENCES entities(id),
            surface TEXT NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            sentence TEXT,
            role TEXT
        );
        CREATE INDEX mentions_article ON mentions(article_id);
        CREATE INDEX mentions_entity ON mentions(entity_id, article_id);
        CREATE INDEX articles_nlp ON articles(nlp_version);
        """
    )


EVENT_LOG_VIEW = """
CREATE VIEW event_log AS
SELECT
    m.id AS event_id,
    m.matched_at,
    a.published_at,
    m.seed_id AS seed,
    round(m.score, 3) AS score,
    a.title,
    a.url,
    coalesce(f.name, a.source) AS feed,
    (SELECT group_concat(name, ', ') FROM (
        SELECT e.name FROM mentions mm JOIN entities e ON e.id = mm.entity_id
        WHERE mm.article_id = a.id AND e.kind NOT IN ('PLACE', 'COUNTRY')
        GROUP BY e.id ORDER BY count(*) DESC, e.name LIMIT 5)) AS top_entities,
    json_extract(m.explanation, '$.evidence[0]') AS evidence,
    m.article_id
FROM matches m
JOIN articles a ON a.id = m.article_id
LEFT JOIN feeds f ON f.id = a.feed_id
"""


@migrations(name="0003_seeds_matches_fts")
def _m0003(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE seeds (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            path TEXT,
            date TEXT,
            url TEXT,
            profile_version TEXT,
            profile TEXT,
            updated_at TEXT
        );
        CREATE TABLE matches (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            seed_id TEXT NOT NULL REFERENCES seeds(id),
            score REAL NOT NULL,
            explanation TEXT NOT NULL,
            matched_at TEXT NOT NULL,
            pipeline_version TEXT NOT NULL,
            UNIQUE (article_id, seed_id)
        );
        CREATE INDEX matches_seed_score ON matches(seed_id, score);
        CREATE INDEX matches_matched_at ON matches(matched_at);
        CREATE INDEX articles_match_version ON articles(match_version);
        """
    )
    db.executescript(EVENT_LOG_VIEW)
    db.table("articles").enable_fts(["title", "summary", "text"], tokenize="porter",
                              create_triggers=True)


@migrations(name="0004_pages")
def _m0004(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE pages (
            url TEXT PRIMARY KEY,
            final_url TEXT,
            http_status INTEGER,
            ok INTEGER NOT NULL,
            title TEXT,
            author TEXT,
            published_at TEXT,
            error TEXT,
            chars INTEGER,
            fetched_at TEXT NOT NULL
        );
        CREATE INDEX articles_page_status ON articles(page_status);
        """
    )


@migrations(name="0005_mentions_by_article_covering")
def _m0005(db: sqlite_utils.Database) -> None:
    # (article_id, entity_id): "which entities did recent articles name" reads the index only.
    db.executescript(
        """
        DROP INDEX IF EXISTS mentions_article;
        CREATE INDEX mentions_article ON mentions(article_id, entity_id);
        """
    )


@migrations(name="0008_deliveries")
def _m0008(db: sqlite_utils.Database) -> None:
    # One row per attempt to deliver a day's digest (channel 'email'): `status` shows the
    # last one, and a failed delivery stays visible until it is resent.
    db.executescript(
        """
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            day TEXT NOT NULL,
            channel TEXT NOT NULL,
            recipients TEXT NOT NULL,
            attempted_at TEXT NOT NULL,
            ok INTEGER NOT NULL,
            error TEXT,
            attempt INTEGER NOT NULL
        );
        CREATE INDEX deliveries_day ON deliveries(day, channel);
        """
    )


#: The readable event log: the current version of each (article, seed) event that is a match,
#: for seeds still in seeds/ (same columns as in 0003, plus ``version``).
#: The event log's columns up to ``version`` and its rows: shared by every version of
#: the view (each migration that re-creates it adds columns after these).
_EVENT_LOG_COLUMNS = """
CREATE VIEW event_log AS
SELECT
    m.id AS event_id,
    m.matched_at,
    a.published_at,
    m.seed_id AS seed,
    round(m.score, 3) AS score,
    a.title,
    a.url,
    coalesce(f.name, a.source) AS feed,
    (SELECT group_concat(name, ', ') FROM (
        SELECT e.name FROM mentions mm JOIN entities e ON e.id = mm.entity_id
        WHERE mm.article_id = a.id AND e.kind NOT IN ('PLACE', 'COUNTRY')
        GROUP BY e.id ORDER BY count(*) DESC, e.name LIMIT 5)) AS top_entities,
    json_extract(m.explanation, '$.evidence[0]') AS evidence,
    m.article_id,
    m.version"""
_EVENT_LOG_ROWS = """
FROM matches m
JOIN articles a ON a.id = m.article_id
JOIN seeds s ON s.id = m.seed_id
LEFT JOIN feeds f ON f.id = a.feed_id
WHERE m.superseded_at IS NULL AND m.status = 'match' AND s.retired_at IS NULL
"""
EVENT_LOG_VIEW_V2 = _EVENT_LOG_COLUMNS + _EVENT_LOG_ROWS

#: Every version of every event — current or superseded, match or withdrawn, retired seeds
#: too — for "what did we know, and when".
EVENT_HISTORY_VIEW = """
CREATE VIEW event_history AS
SELECT
    m.id AS event_id,
    m.article_id,
    m.seed_id AS seed,
    m.version,
    m.status,
    round(m.score, 3) AS score,
    m.matched_at,
    m.superseded_at,
    m.superseded_at IS NULL AS is_current,
    m.supersedes,
    m.seed_version,
    m.scorer_version,
    m.corpus_version,
    m.pipeline_version,
    s.retired_at AS seed_retired_at,
    a.published_at,
    a.title,
    a.url,
    coalesce(f.name, a.source) AS feed,
    json_extract(m.explanation, '$.evidence[0]') AS evidence
FROM matches m
JOIN articles a ON a.id = m.article_id
LEFT JOIN seeds s ON s.id = m.seed_id
LEFT JOIN feeds f ON f.id = a.feed_id
"""

_APPEND_ONLY = "the event log is append-only: an event is never changed or deleted, " \
               "only superseded"


@migrations(name="0006_event_versions")
def _m0006(db: sqlite_utils.Database) -> None:
    # Several versions of an (article, seed) event: the UNIQUE pair becomes a partial unique
    # index over the current versions. Every existing row keeps its id and becomes version 1
    # (0.1.0 had one scorer, version "1"; its seed version is in the explanation). One
    # statement at a time, so the rebuild stays inside the migration's transaction.
    for statement in (
        "DROP VIEW IF EXISTS event_log",
        """CREATE TABLE matches_v2 (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            seed_id TEXT NOT NULL REFERENCES seeds(id),
            score REAL NOT NULL,
            explanation TEXT NOT NULL,
            matched_at TEXT NOT NULL,
            pipeline_version TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'match' CHECK (status IN ('match', 'withdrawn')),
            version INTEGER NOT NULL DEFAULT 1,
            seed_version TEXT,
            scorer_version TEXT,
            corpus_version INTEGER,
            supersedes INTEGER REFERENCES matches_v2(id),
            superseded_at TEXT
        )""",
        """INSERT INTO matches_v2 (id, article_id, seed_id, score, explanation, matched_at,
                                   pipeline_version, status, version, seed_version,
                                   scorer_version)
        SELECT id, article_id, seed_id, score, explanation, matched_at, pipeline_version,
               'match', 1, json_extract(explanation, '$.profile_version'), '1'
        FROM matches""",
        "DROP TABLE matches",
        "ALTER TABLE matches_v2 RENAME TO matches",
        "CREATE UNIQUE INDEX matches_current ON matches(article_id, seed_id) "
        "WHERE superseded_at IS NULL",
        "CREATE INDEX matches_seed_score ON matches(seed_id, score)",
        "CREATE INDEX matches_matched_at ON matches(matched_at)",
        "CREATE INDEX matches_supersedes ON matches(supersedes)",
        f"""CREATE TRIGGER matches_never_deleted BEFORE DELETE ON matches
        BEGIN
            SELECT RAISE(ABORT, '{_APPEND_ONLY}');
        END""",
        f"""CREATE TRIGGER matches_only_superseded BEFORE UPDATE ON matches
        WHEN OLD.superseded_at IS NOT NULL OR NEW.superseded_at IS NULL
            OR NEW.id IS NOT OLD.id OR NEW.article_id IS NOT OLD.article_id
            OR NEW.seed_id IS NOT OLD.seed_id OR NEW.score IS NOT OLD.score
            OR NEW.explanation IS NOT OLD.explanation OR NEW.matched_at IS NOT OLD.matched_at
            OR NEW.pipeline_version IS NOT OLD.pipeline_version
            OR NEW.status IS NOT OLD.status OR NEW.version IS NOT OLD.version
            OR NEW.seed_version IS NOT OLD.seed_version
            OR NEW.scorer_version IS NOT OLD.scorer_version
            OR NEW.corpus_version IS NOT OLD.corpus_version
            OR NEW.supersedes IS NOT OLD.supersedes
        BEGIN
            SELECT RAISE(ABORT, '{_APPEND_ONLY}');
        END""",
        "ALTER TABLE seeds ADD COLUMN retired_at TEXT",
        EVENT_LOG_VIEW_V2,
        EVENT_HISTORY_VIEW,
    ):
        db.execute(statement)


@migrations(name="0007_article_versions")
def _m0007(db: sqlite_utils.Database) -> None:
    # An article whose stored text is replaced (a changed import record under a known id, a
    # changed feed entry) keeps each earlier version here.
    db.execute(
        """CREATE TABLE article_versions (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            title TEXT NOT NULL,
            summary TEXT NOT NULL,
            text TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            replaced_at TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX article_versions_article ON article_versions(article_id, "
               "replaced_at)")


@migrations(name="0009_feed_moves")
def _m0009(db: sqlite_utils.Database) -> None:
    # A feed whose server answered 301/308: where it moved and when it was first seen.
    # SpaceWatch fetches `moved_to` from then on until feeds.yaml names a URL of its own.
    db.execute("ALTER TABLE feeds ADD COLUMN moved_to TEXT")
    db.execute("ALTER TABLE feeds ADD COLUMN moved_at TEXT")


#: ``event_log`` for a reader (``spacewatch serve``): the columns of 0006 in the same order,
#: then the article's ``language`` and two JSON arrays Datasette can facet on — ``entities``
#: (the names of every entity the article names, most named first) and ``entity_kinds``.
EVENT_LOG_VIEW_V3 = _EVENT_LOG_COLUMNS + """,
    a.language,
    (SELECT json_group_array(name) FROM (
        SELECT e.name FROM mentions mm JOIN entities e ON e.id = mm.entity_id
        WHERE mm.article_id = a.id
        GROUP BY e.name ORDER BY count(*) DESC, e.name)) AS entities,
    (SELECT json_group_array(kind) FROM (
        SELECT DISTINCT e.kind FROM mentions mm JOIN entities e ON e.id = mm.entity_id
        WHERE mm.article_id = a.id ORDER BY e.kind)) AS entity_kinds""" + _EVENT_LOG_ROWS

#: One row per (entity, article that names it): an entity's articles with titles and dates.
#: ``WHERE entity_id = ?`` reaches the mentions_entity index (SQLite pushes it into the
#: grouping).
ENTITY_ARTICLES_VIEW = """
CREATE VIEW entity_articles AS
SELECT
    m.entity_id,
    e.name AS entity,
    e.kind,
    a.published_at,
    a.title,
    coalesce(f.name, a.source) AS feed,
    a.language,
    count(*) AS mentions,
    a.url,
    m.article_id
FROM mentions m
JOIN entities e ON e.id = m.entity_id
JOIN articles a ON a.id = m.article_id
LEFT JOIN feeds f ON f.id = a.feed_id
GROUP BY m.entity_id, m.article_id
"""


@migrations(name="0010_datasette_views")
def _m0010(db: sqlite_utils.Database) -> None:
    # Views only: no stored row changes. One statement at a time (inside the transaction).
    for statement in ("DROP VIEW IF EXISTS event_log", EVENT_LOG_VIEW_V3,
                      "DROP VIEW IF EXISTS entity_articles", ENTITY_ARTICLES_VIEW):
        db.execute(statement)


#: The full-text index over an article's words and, for a Russian article, their lemmas
#: (``articles.lemmas``: «Роскосмоса» and «Роскосмосу» are both «роскосмос» there). Built the
#: way sqlite-utils' ``enable_fts(..., tokenize="porter", create_triggers=True)`` builds it
#: (same table, same trigger names), except that the update trigger fires only when an indexed
#: column changes, not on every version stamp.
ARTICLES_FTS_COLUMNS = ("title", "summary", "text", "lemmas")


def _fts_statements() -> list[str]:
    cols = ", ".join(f'"{c}"' for c in ARTICLES_FTS_COLUMNS)
    new = ", ".join(f'new."{c}"' for c in ARTICLES_FTS_COLUMNS)
    old = ", ".join(f'old."{c}"' for c in ARTICLES_FTS_COLUMNS)
    return [
        f"CREATE VIRTUAL TABLE \"articles_fts\" USING FTS5 (\n    {cols},\n"
        "    tokenize='porter',\n    content=\"articles\"\n)",
        f'CREATE TRIGGER "articles_ai" AFTER INSERT ON "articles" BEGIN\n'
        f'  INSERT INTO "articles_fts" (rowid, {cols}) VALUES (new.rowid, {new});\nEND',
        f'CREATE TRIGGER "articles_ad" AFTER DELETE ON "articles" BEGIN\n'
        f'  INSERT INTO "articles_fts" ("articles_fts", rowid, {cols}) '
        f"VALUES('delete', old.rowid, {old});\nEND",
        f'CREATE TRIGGER "articles_au" AFTER UPDATE OF {cols} ON "articles" BEGIN\n'
        f'  INSERT INTO "articles_fts" ("articles_fts", rowid, {cols}) '
        f"VALUES('delete', old.rowid, {old});\n"
        f'  INSERT INTO "articles_fts" (rowid, {cols}) VALUES (new.rowid, {new});\nEND',
        "INSERT INTO \"articles_fts\" (\"articles_fts\") VALUES ('rebuild')",
    ]


@migrations(name="0011_article_language")
def _m0011(db: sqlite_utils.Database) -> None:
    # Each article's language as identified (pipeline.language): how sure, and what decided
    # it (text, hint = the feed's language, default, given = an import record's own). Articles
    # stored before this get theirs at their next analysis (the NLP version changed).
    # One statement at a time (inside the transaction).
    for statement in (
            "ALTER TABLE articles ADD COLUMN language_confidence REAL",
            "ALTER TABLE articles ADD COLUMN language_source TEXT",
            "ALTER TABLE articles ADD COLUMN lemmas TEXT NOT NULL DEFAULT ''",
            'DROP TRIGGER IF EXISTS "articles_ai"', 'DROP TRIGGER IF EXISTS "articles_ad"',
            'DROP TRIGGER IF EXISTS "articles_au"', 'DROP TABLE IF EXISTS "articles_fts"',
            *_fts_statements()):
        db.execute(statement)


@migrations(name="0012_quotes")
def _m0012(db: sqlite_utils.Database) -> None:
    # Who said what (pipeline.quotes): derived data like mentions, replaced with them when an
    # article is analysed again; not part of the append-only event log. Offsets are characters
    # of the analysed text (title, blank line, text), like the mentions'.
    # One statement at a time (inside the transaction).
    for statement in (
            "CREATE TABLE quotes (id INTEGER PRIMARY KEY, "
            "article_id INTEGER NOT NULL REFERENCES articles(id), "
            "speaker_entity_id TEXT NOT NULL, speaker_name TEXT NOT NULL, text TEXT NOT NULL, "
            "kind TEXT NOT NULL CHECK (kind IN ('direct','reported')), cue TEXT NOT NULL, "
            'start INTEGER NOT NULL, "end" INTEGER NOT NULL, '
            "sentence_start INTEGER NOT NULL, sentence_end INTEGER NOT NULL, nlp_version TEXT)",
            "CREATE INDEX quotes_article ON quotes(article_id, start)",
            "CREATE INDEX quotes_speaker ON quotes(speaker_entity_id, article_id)"):
        db.execute(statement)


@migrations(name="0013_mention_resolution")
def _m0013(db: sqlite_utils.Database) -> None:
    # How a mention that names no one was resolved (pipeline.offices): 'office' = a role-only
    # phrase ("the head of Roscosmos said") linked to the holder on the publication date;
    # NULL = the name is in the text. Filled at each article's next analysis.
    db.execute("ALTER TABLE mentions ADD COLUMN resolved_by TEXT")


@migrations(name="0014_stories")
def _m0014(db: sqlite_utils.Database) -> None:
    # Stories (issue 14): articles that report the same event, grouped incrementally as they
    # arrive (pipeline.stories). Derived and curated data, not part of the append-only event
    # log: `story merge` / `story split` move articles between stories. Times are UTC ISO.
    # (Unreleased: the stories work may still amend this migration before it ships.)
    for statement in (
            """CREATE TABLE stories (
                id INTEGER PRIMARY KEY,
                headline TEXT NOT NULL,
                representative_article_id INTEGER REFERENCES articles(id),
                first_seen TEXT NOT NULL,
                last_updated TEXT NOT NULL,
                created_at TEXT NOT NULL,
                article_count INTEGER NOT NULL DEFAULT 0,
                outlet_count INTEGER NOT NULL DEFAULT 0,
                language_count INTEGER NOT NULL DEFAULT 0,
                languages TEXT NOT NULL DEFAULT '[]',
                follows_story_id INTEGER REFERENCES stories(id),
                merged_into INTEGER REFERENCES stories(id)
            )""",
            """CREATE TABLE story_articles (
                article_id INTEGER PRIMARY KEY REFERENCES articles(id),
                story_id INTEGER NOT NULL REFERENCES stories(id),
                joined_at TEXT NOT NULL,
                similarity REAL,
                explanation TEXT NOT NULL,
                assigned_by TEXT NOT NULL DEFAULT 'auto'
                    CHECK (assigned_by IN ('auto', 'merge', 'split', 'analyst'))
            )""",
            "CREATE INDEX story_articles_story ON story_articles(story_id, joined_at)",
            # The assignment index: each story's entities and distinctive terms, with when
            # the story last saw them, so a new article looks up candidates by key within a
            # time window instead of scanning every story.
            """CREATE TABLE story_keys (
                key TEXT NOT NULL,
                story_id INTEGER NOT NULL REFERENCES stories(id),
                last_seen TEXT NOT NULL,
                weight REAL NOT NULL DEFAULT 1.0,
                PRIMARY KEY (key, story_id)
            )""",
            # (Covering: a key's recent stories are read from the index alone.)
            "CREATE INDEX story_keys_recent ON story_keys(key, last_seen, story_id)",
            # A story's own keys and weights (a comparison reads them from the index alone;
            # merge and split move them).
            "CREATE INDEX story_keys_story ON story_keys(story_id, key, weight)",
            "CREATE INDEX stories_last_updated ON stories(last_updated)",
            "CREATE INDEX stories_follows ON stories(follows_story_id)",
            STORY_OVERVIEW_VIEW):
        db.execute(statement)


#: One row per story (merged-away stories left out), for SQL and Datasette: its counters
#: and its best current score against each seed (the best event among its articles).
STORY_OVERVIEW_VIEW = """
CREATE VIEW story_overview AS
SELECT
    s.id,
    s.headline,
    s.first_seen,
    s.last_updated,
    s.article_count AS articles,
    s.outlet_count AS outlets,
    s.languages,
    s.follows_story_id,
    (SELECT max(m.score) FROM matches m JOIN story_articles sa ON sa.article_id = m.article_id
     JOIN seeds sd ON sd.id = m.seed_id
     WHERE sa.story_id = s.id AND m.superseded_at IS NULL AND m.status = 'match'
       AND sd.retired_at IS NULL) AS best_score,
    (SELECT json_group_object(seed_id, score) FROM (
        SELECT m.seed_id, round(max(m.score), 3) AS score FROM matches m
        JOIN story_articles sa ON sa.article_id = m.article_id
        JOIN seeds sd ON sd.id = m.seed_id
        WHERE sa.story_id = s.id AND m.superseded_at IS NULL AND m.status = 'match'
          AND sd.retired_at IS NULL
        GROUP BY m.seed_id ORDER BY m.seed_id)) AS seed_scores
FROM stories s
WHERE s.merged_into IS NULL
"""


@migrations(name="0015_alert_outbox")
def _m0015(db: sqlite_utils.Database) -> None:
    # Alerts (issue 14): a persistent outbox. A pass that finds a story worth alerting
    # writes a row (one per rule, story and alert number) in one transaction with the
    # watermarks that say how far it looked (meta 'alerts.*'); delivery picks due rows,
    # records every attempt, and marks a row delivered only after a 2xx / accepted send, so
    # nothing is lost across a crash and nothing is sent twice after a success. `basis` is
    # what the story was at its first alert (languages, officials quoted: the re-alert rule
    # compares against it); `claimed_by` / `claimed_until` are the pid sending a row and until
    # when, so two processes never send it at once and a killed sender's claim is taken over
    # at once. (pipeline.alerts)
    for statement in (
            """CREATE TABLE alert_outbox (
                id INTEGER PRIMARY KEY,
                idempotency_key TEXT NOT NULL UNIQUE,
                rule TEXT NOT NULL,
                channel TEXT NOT NULL CHECK (channel IN ('webhook', 'email', 'command')),
                target TEXT NOT NULL,
                seed_id TEXT NOT NULL,
                story_id INTEGER NOT NULL REFERENCES stories(id),
                alert_number INTEGER NOT NULL DEFAULT 1,
                reason TEXT NOT NULL,
                payload TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
                created_at TEXT NOT NULL,
                next_attempt_at TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                delivered_at TEXT,
                last_error TEXT,
                basis TEXT NOT NULL DEFAULT '{}',
                claimed_by INTEGER,
                claimed_until TEXT
            )""",
            "CREATE INDEX alert_outbox_due ON alert_outbox(state, next_attempt_at)",
            "CREATE INDEX alert_outbox_story ON alert_outbox(story_id, rule)",
            """CREATE TABLE alert_attempts (
                id INTEGER PRIMARY KEY,
                outbox_id INTEGER NOT NULL REFERENCES alert_outbox(id),
                attempted_at TEXT NOT NULL,
                ok INTEGER NOT NULL,
                status TEXT,
                error TEXT,
                duration_ms INTEGER
            )""",
            "CREATE INDEX alert_attempts_outbox ON alert_attempts(outbox_id)",
            # The queueing looks for articles that joined a story since its watermark.
            "CREATE INDEX story_articles_joined ON story_articles(joined_at)",
            # A database that already holds matches alerts only on matches found from now
            # on (no flood of alerts about its history); a new one alerts on everything.
            "INSERT OR IGNORE INTO meta (key, value, updated_at) SELECT 'alerts.since', "
            "CASE WHEN EXISTS (SELECT 1 FROM matches) "
            "THEN strftime('%Y-%m-%dT%H:%M:%SZ', 'now') ELSE '' END, "
            "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"):
        db.execute(statement)


@migrations(name="0016_digest_indexes")
def _m0016(db: sqlite_utils.Database) -> None:
    # The digest lists what was *found* in a window (issue 14): the event rows stamped in it
    # that made an event a match (first versions, or versions after a withdrawal), read from
    # one covering index instead of the table. It starts with matched_at, so it replaces
    # matches_matched_at. The per-feed count of articles reads each article's feeds from a
    # covering index too (it replaces article_sources_article, its prefix), and a day's
    # fetches are found by time.
    # One statement at a time (inside the transaction).
    for statement in (
            "CREATE INDEX IF NOT EXISTS matches_found ON matches(matched_at, status, "
            "supersedes, article_id, seed_id)",
            "DROP INDEX IF EXISTS matches_matched_at",
            "CREATE INDEX IF NOT EXISTS article_sources_article_feed ON "
            "article_sources(article_id, feed_id)",
            "DROP INDEX IF EXISTS article_sources_article",
            # A day's fetches (the digest's feed health of a past day), without reading a
            # year of them.
            "CREATE INDEX IF NOT EXISTS fetches_started ON fetches(started_at)"):
        db.execute(statement)
