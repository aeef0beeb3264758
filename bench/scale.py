"""The log at scale: a bulk-generated database, then the digest, FTS and the README queries.

    python bench/scale.py [--articles 100000] [--mentions 1000000] [--matches 20000]

Rows are generated (deterministically) and inserted in bulk through the real schema — with
its FTS triggers and indexes — not ingested. Reported: generation time, database size per
1,000 articles, the time to render a day's digest (target < 1 s), an FTS query (< 50 ms),
each README example query (< 200 ms), and whether EXPLAIN QUERY PLAN uses an index.
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
from pipeline.digest import build_digest  # noqa: E402
from pipeline.gazetteer import load_gazetteer  # noqa: E402
from pipeline.query import EXAMPLES, run_query  # noqa: E402
from pipeline.store import Store  # noqa: E402

SEEDS = ["us-russia-iss-cooperation", "artemis-accords", "china-russia-ilrs"]


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
    for i in range(1, n_articles + 1):
        published = now - timedelta(minutes=rng.randint(0, 200 * 24 * 60))
        text = " ".join(rng.choice(pool) for _ in range(rng.randint(8, 20)))
        batch.append((i, rng.randint(1, 100), f"http://127.0.0.1/a/{i}", f"g{i}",
                      rng.choice(pool)[:90], text[:300], text,
                      published.strftime("%Y-%m-%dT%H:%M:%SZ"),
                      now.strftime("%Y-%m-%dT%H:%M:%SZ"), f"h{i}", "v1", "m1"))
        if len(batch) == 5000:
            _insert_articles(store, batch)
            batch = []
    _insert_articles(store, batch)
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
        rows.append((aid, seed, round(rng.uniform(0.4, 1.0), 3), json.dumps(explanation),
                     now.strftime("%Y-%m-%dT%H:%M:%SZ"), "v1|m1"))
    with store.transaction() as c:
        c.executemany("INSERT INTO matches (article_id, seed_id, score, explanation, "
                      "matched_at, pipeline_version) VALUES (?, ?, ?, ?, ?, ?)", rows)
    store.conn.execute("ANALYZE")


def _insert_articles(store: Store, rows: list[tuple]) -> None:
    if rows:
        with store.transaction() as c:
            c.executemany("INSERT INTO articles (id, feed_id, url, guid, title, summary, text, "
                          "published_at, fetched_at, content_hash, nlp_version, match_version) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


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
    args = parser.parse_args(argv)
    rng = random.Random(42)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "scale.db"
        t0 = time.perf_counter()
        with Store(db) as store:
            generate(store, args.articles, args.mentions, args.matches, rng)
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        gen = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(tmp).glob("scale.db*"))
        print(f"Generated {args.articles} articles, {args.mentions} mentions, {args.matches} "
              f"matches in {gen:.0f} s; database {size / 2**20:.0f} MiB = "
              f"{size / 2**20 / args.articles * 1000:.1f} MiB per 1,000 articles")
        today = datetime.now(UTC).date()
        with Store(db) as store:
            out["digest_s"] = best_of(lambda: build_digest(store, today, "html", "UTC"), 3)
        print(f"{'what':44} {'best of 5 (ms)':>14} {'target':>8} {'index used':>10}")
        print(f"{'digest of one day (HTML)':44} {out['digest_s'] * 1000:14.0f} {'< 1000':>8}")
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
