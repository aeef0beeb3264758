"""The log at scale: a bulk-generated database, then the digest, FTS and the README queries.

    python bench/scale.py [--articles 100000] [--mentions 1000000] [--matches 20000]
                          [--keep DIR]

Rows are generated (deterministically) and inserted in bulk through the real schema — with
its FTS triggers and indexes — not ingested: articles published over 200 days, stories of 1-6
of them, matches mostly found within 90 minutes of publication and 3 % days later. Reported:
generation time, database size per 1,000 articles, the time to render a day's story digest
(target < 2 s) and a week's ``--since`` digest, an FTS query (< 50 ms), each README example
query (< 200 ms), and whether EXPLAIN QUERY PLAN uses an index.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import sentence  # noqa: E402
from pipeline.digest import build_digest, load_digest  # noqa: E402
from pipeline.gazetteer import load_gazetteer  # noqa: E402
from pipeline.query import EXAMPLES, run_query  # noqa: E402
from pipeline.store import Store  # noqa: E402

SEEDS = ["us-russia-iss-cooperation", "artemis-accords", "china-russia-ilrs"]
#: Articles are published over this many days before now (so articles / DAYS a day).
DAYS = 200
#: Share of matches found days after publication (an import, a rematch, a late fetch).
LATE_SHARE = 0.03
#: Share of articles imported from an archive: stored among new ones, published long before.
IMPORTED_SHARE = 0.02


def generate(store: Store, n_articles: int, n_mentions: int, n_matches: int,
             rng: random.Random) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    pool = [sentence(rng) for _ in range(4000)]
    gaz = list(load_gazetteer().entries.values())
    entities = [(e.id, e.name, e.kind, e.wikidata, "gazetteer") for e in gaz]
    entities += [(f"person:p{i}", f"Person {i}", "PERSON", None, "model") for i in range(1500)]
    conn = store.conn
    with store.transaction():
        conn.executemany("INSERT INTO feeds (name, url, created_at) VALUES (?, ?, ?)",
                         [(f"feed{i}", f"http://127.0.0.1/{i}.xml", now.isoformat())
                          for i in range(100)])
        conn.executemany("INSERT INTO entities (id, name, kind, wikidata_id, origin) "
                         "VALUES (?, ?, ?, ?, ?)", entities)
        conn.executemany("INSERT INTO seeds (id, title) VALUES (?, ?)",
                         [(s, s.replace("-", " ")) for s in SEEDS])
    batch = []
    # Ids in the order articles arrive, as the pipeline stores them: by publication time,
    # except IMPORTED_SHARE of them, archive articles imported late (older dates, new ids).
    minutes = sorted((rng.randint(0, DAYS * 24 * 60) for _ in range(n_articles)), reverse=True)
    published_of: list[datetime] = [now]  # by article id (index 0 unused)
    for i in range(1, n_articles + 1):
        published = now - timedelta(minutes=minutes[i - 1])
        if rng.random() < IMPORTED_SHARE:
            published -= timedelta(days=rng.uniform(1, 60))
        published_of.append(published)
        text = " ".join(rng.choice(pool) for _ in range(rng.randint(8, 20)))
        fetched = min(published + timedelta(minutes=rng.randint(1, 30)), now)
        batch.append((i, rng.randint(1, 100), f"http://127.0.0.1/a/{i}", f"g{i}",
                      rng.choice(pool)[:90], text[:300], text, _iso(published), _iso(fetched),
                      f"h{i}", "v1", "m1", "ru" if rng.random() < 0.15 else "en"))
        if len(batch) == 5000:
            _insert_articles(store, batch)
            batch = []
    _insert_articles(store, batch)
    _fill_stories(store, published_of, rng)
    weights = [1.0 / (k + 1) ** 0.8 for k in range(len(entities))]
    ids = [e[0] for e in entities]
    left = n_mentions
    while left > 0:
        size = min(50_000, left)
        rows = []
        for aid, eid in zip((rng.randint(1, n_articles) for _ in range(size)),
                            rng.choices(ids, weights, k=size), strict=True):
            rows.append((aid, eid, eid, 0, 10, rng.choice(pool), None))
        with store.transaction() as c:
            c.executemany('INSERT INTO mentions (article_id, entity_id, surface, start, "end", '
                          "sentence, role) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        left -= size
    pairs = set()
    while len(pairs) < n_matches:
        pairs.add((rng.randint(1, n_articles), rng.choice(SEEDS)))
    rows = []
    for aid, seed in sorted(pairs):
        explanation = {"score": 0.5, "entities": [{"id": "nasa", "name": "NASA",
                                                   "kind": "AGENCY", "weight": 1.0,
                                                   "mentions": 1}],
                       "evidence": [rng.choice(pool)], "terms": [], "phrases": [],
                       "components": {}, "weights": {}}
        # Found soon after publication, or (LATE_SHARE) days later: an import, a rematch.
        delay = (timedelta(days=rng.uniform(1, 30)) if rng.random() < LATE_SHARE
                 else timedelta(minutes=rng.randint(2, 90)))
        rows.append((aid, seed, round(rng.uniform(0.4, 1.0), 3), json.dumps(explanation),
                     _iso(min(published_of[aid] + delay, now)), "v1|m1"))
    with store.transaction() as c:
        c.executemany("INSERT INTO matches (article_id, seed_id, score, explanation, "
                      "matched_at, pipeline_version) VALUES (?, ?, ?, ?, ?, ?)", rows)
    store.conn.execute("ANALYZE")


def _insert_articles(store: Store, rows: list[tuple]) -> None:
    if rows:
        with store.transaction() as c:
            c.executemany("INSERT INTO articles (id, feed_id, url, guid, title, summary, text, "
                          "published_at, fetched_at, content_hash, nlp_version, match_version, "
                          "language) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            c.executemany("INSERT INTO article_sources (article_id, feed_id, guid, url, "
                          "first_seen_at) VALUES (?, ?, ?, ?, ?)",
                          [(r[0], r[1], r[3], r[2], r[8]) for r in rows])


def _fill_stories(store: Store, published_of: list[datetime], rng: random.Random) -> None:
    """Stories of 1-6 articles published close together (as ``assign_stories`` makes
    them): articles in publication order, cut into runs of a random length."""
    order = sorted(range(1, len(published_of)), key=lambda i: (published_of[i], i))
    stories, members = [], []
    at = sid = 0
    while at < len(order):
        run = order[at:at + rng.randint(1, 6)]
        at += len(run)
        sid += 1
        first, last = published_of[run[0]], published_of[run[-1]]
        stories.append((sid, f"Story {sid}", run[0], _iso(first), _iso(last), _iso(first),
                        len(run), len(run), 1, '["en"]'))
        members += [(aid, sid, _iso(published_of[aid] + timedelta(minutes=rng.randint(2, 90))),
                     0.5, "{}") for aid in run]
        if len(members) >= 50_000 or at >= len(order):
            with store.transaction() as c:
                c.executemany("INSERT INTO stories (id, headline, representative_article_id, "
                              "first_seen, last_updated, created_at, article_count, "
                              "outlet_count, language_count, languages) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", stories)
                c.executemany("INSERT INTO story_articles (article_id, story_id, joined_at, "
                              "similarity, explanation) VALUES (?, ?, ?, ?, ?)", members)
            stories, members = [], []


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument("--matches", type=int, default=20_000)
    parser.add_argument("--keep", metavar="DIR", default=None,
                        help="Keep the database in DIR (scale-ARTICLES.db) and reuse it on the "
                             "next run instead of generating it again.")
    args = parser.parse_args(argv)
    rng = random.Random(42)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / f"scale-{args.articles}.db"
        if db.exists() and args.keep:
            with Store(db):  # migrated to the current schema (new indexes built here)
                pass
            print(f"Reusing {db}")
        else:
            t0 = time.perf_counter()
            with Store(db) as store:
                generate(store, args.articles, args.mentions, args.matches, rng)
                store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            gen = time.perf_counter() - t0
            print(f"Generated {args.articles} articles, {args.mentions} mentions, "
                  f"{args.matches} matches in {gen:.0f} s")
        size = sum(p.stat().st_size for p in folder.glob(f"{db.name}*"))
        print(f"Database {size / 2**20:.0f} MiB = "
              f"{size / 2**20 / args.articles * 1000:.1f} MiB per 1,000 articles")
        yesterday = datetime.now(UTC).date() - timedelta(days=1)  # a whole day
        with Store(db) as store:
            found = store.scalar("SELECT count(*) FROM matches WHERE matched_at >= ? AND "
                                 "matched_at < ?", [f"{yesterday}T00:00:00Z",
                                                    f"{yesterday + timedelta(days=1)}T00:00:00Z"])
            out["digest_s"] = best_of(lambda: build_digest(store, yesterday, "html", "UTC"), 3)
            data = load_digest(store, yesterday, "UTC")
            week = datetime.now(UTC) - timedelta(days=7)
            out["digest_week_s"] = best_of(
                lambda: build_digest(store, yesterday, "html", "UTC", since=week), 3)
        print(f"{'what':44} {'best (ms)':>14} {'target':>8} {'index used':>10}")
        print(f"{'story digest of one day (HTML)':44} {out['digest_s'] * 1000:14.0f} "
              f"{'< 2000':>8}")
        print(f"    {found} matches found that day, {len(data.stories)} stories, "
              f"{data.articles} articles published that day")
        print(f"{'story digest --since 7 days ago (HTML)':44} "
              f"{out['digest_week_s'] * 1000:14.0f}")
        fts = next(e for e in EXAMPLES if e.name == "full_text_search")
        for example in EXAMPLES:
            params = dict(example.params)
            if example.name == "matches_mentioning":
                params["entity"] = "dmitry-bakanov"
            seconds = best_of(lambda ex=example, p=params: run_query(db, ex.sql, p))
            plan = run_query(db, "EXPLAIN QUERY PLAN " + example.sql, params)[1]
            details = " | ".join(str(r[-1]) for r in plan)
            uses_index = "USING INDEX" in details or "USING COVERING INDEX" in details or \
                "VIRTUAL TABLE INDEX" in details or "USING INTEGER PRIMARY KEY" in details
            target = "< 50" if example is fts else "< 200"
            out[example.name] = seconds
            print(f"{example.title[:44]:44} {seconds * 1000:14.1f} {target:>8} "
                  f"{'yes' if uses_index else 'NO':>10}")
            print(f"    plan: {details[:150]}")
        terms = ["deorbit", "Bakanov", "cross-flight", "Artemis Accords", "Roscosmos NASA",
                 "zzzunknown"]
        fts_times = []
        for q in terms:
            hits = run_query(db, "SELECT count(*) FROM articles_fts WHERE articles_fts "
                                 "MATCH :q", {"q": f'"{q}"'})[1][0][0]
            seconds = best_of(lambda q=q: run_query(db, fts.sql, {"q": f'"{q}"'}))
            fts_times.append(seconds)
            print(f"    FTS {q!r:20} {hits:7d} hits, newest 20 in {seconds * 1000:6.1f} ms")
        print(f"FTS over {len(terms)} queries: median {statistics.median(fts_times) * 1000:.1f} "
              f"ms, max {max(fts_times) * 1000:.1f} ms (target < 50)")
        out["size_per_1000_mb"] = size / 2**20 / args.articles * 1000
    return out


if __name__ == "__main__":
    main()
