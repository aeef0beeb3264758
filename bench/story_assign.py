"""Story assignment cost: per-article time with 1K and with 100K stored stories.

    python bench/story_assign.py [--small 1000] [--large 100000] [--articles 100]

Two temporary databases are filled (in bulk, through the real schema) with synthetic stories
whose first reports are spread over a year: each has 8 entities and 30 terms and phrases
drawn from Zipf-like vocabularies (a few keys, like NASA, are in a large share of them),
indexed in ``story_keys`` as the story stage indexes them. The same new articles (dated in
the year's last week, with mentions drawn the same way) are then assigned into each, and the
time per article compared. The issue's target: the larger is under 3x the smaller (an index
read within a time window, never a scan of the stories).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.records import Article, Mention, iso  # noqa: E402
from pipeline.store import Store  # noqa: E402
from pipeline.stories import assign_stories  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 365
N_ENTITIES = 3000
N_WORDS = 20000
KINDS = ("AGENCY", "OFFICIAL", "PROGRAM", "SPACECRAFT", "COMPANY", "PERSON", "COUNTRY")
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def word(i: int) -> str:
    """The i-th synthetic word: letters only, three syllables (never a stop word)."""
    a, b = divmod(i, len(_SYLLABLES))
    c, b2 = divmod(a, len(_SYLLABLES))
    return _SYLLABLES[b] + _SYLLABLES[b2] + _SYLLABLES[c % len(_SYLLABLES)] + "x"


def zipf(rng: random.Random, n: int) -> int:
    """An index in [0, n) with a Zipf-like (1/rank) distribution."""
    return min(n - 1, int(n ** rng.random()) - 1)


def fill(store: Store, n_stories: int, rng: random.Random) -> None:
    """Insert ``n_stories`` stories with their keys, first reports spread over the year."""
    conn = store.conn
    created = iso(START)
    # The secondary indexes are built once at the end (a sort), not row by row.
    indexes = [r[0] for r in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'story_keys' "
        "AND sql IS NOT NULL")]
    with store.transaction():
        for name in [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'story_keys' AND sql IS NOT NULL")]:
            conn.execute(f"DROP INDEX {name}")
        for start in range(0, n_stories, 5000):
            stories, keys = [], []
            for sid in range(start + 1, min(start + 5000, n_stories) + 1):
                first = START + timedelta(minutes=rng.randint(0, DAYS * 24 * 60))
                last = first + timedelta(hours=rng.randint(0, 60))
                stories.append((sid, f"story {sid}", iso(first), iso(last), created,
                                rng.randint(1, 6), rng.randint(1, 4), 1, '["en"]'))
                entity_keys = {f"e:ent{zipf(rng, N_ENTITIES)}" for _ in range(8)}
                term_keys = {f"t:{word(zipf(rng, N_WORDS))}" for _ in range(24)}
                term_keys |= {f"p:{word(zipf(rng, N_WORDS))} {word(zipf(rng, N_WORDS))}"
                              for _ in range(6)}
                seen = iso(last)
                keys += [(k, sid, seen, round(rng.uniform(0.5, 9.0), 3))
                         for k in entity_keys | term_keys]
            conn.executemany(
                "INSERT INTO stories (id, headline, first_seen, last_updated, created_at, "
                "article_count, outlet_count, language_count, languages) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", stories)
            conn.executemany("INSERT INTO story_keys (key, story_id, last_seen, weight) "
                             "VALUES (?, ?, ?, ?)", sorted(keys))
        for sql in indexes:
            conn.execute(sql)


def new_articles(n: int, seed: int) -> list[tuple[Article, list[Mention]]]:
    """The articles to assign: dated in the year's last week, keys drawn as the stories'."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        when = START + timedelta(days=DAYS - 7, minutes=rng.randint(0, 7 * 24 * 60))
        words = [word(zipf(rng, N_WORDS)) for _ in range(120)]
        title = " ".join(words[:8]).capitalize()
        text = ". ".join(" ".join(words[j:j + 12]) for j in range(0, 120, 12)) + "."
        ents = sorted({zipf(rng, N_ENTITIES) for _ in range(8)})
        mentions = [Mention(entity_id=f"ent{e}", name=f"Entity {e}", kind=KINDS[e % len(KINDS)],
                            origin="gazetteer", surface=f"Entity {e}", start=k, end=k + 1,
                            sentence=title) for k, e in enumerate(ents)]
        out.append((Article(guid=f"new{i}", url=f"https://bench{i % 7}.example/{i}",
                            title=title, summary=text, published_at=iso(when),
                            published_estimated=False, language="en", language_source="given",
                            content_hash=hashlib.sha256(text.encode()).hexdigest()), mentions))
    return out


def per_article_ms(folder: Path, n_stories: int, articles: list[tuple[Article, list[Mention]]],
                   rng_seed: int) -> tuple[float, float]:
    """(seconds to fill, ms per article assigned) for one database of ``n_stories``."""
    with Store(folder / f"stories-{n_stories}.db") as store:
        started = time.perf_counter()
        fill(store, n_stories, random.Random(rng_seed))
        store.conn.execute("ANALYZE")
        # The fill is set-up: its write-ahead log is folded into the file now, not by the
        # first commits of the timed assignment (a checkpoint of 100K stories' pages).
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        filled = time.perf_counter() - started
        saved = store.save_articles([a for a, _m in articles], iso(START))
        store.save_mentions([(aid, m) for aid, (_a, m) in zip(saved.new_ids, articles,
                                                              strict=True)],
                            "bench", iso(START))
        started = time.perf_counter()
        changes = assign_stories(store)
        elapsed = time.perf_counter() - started
        assert sum(len(c.article_ids) for c in changes) == len(articles)
    return filled, elapsed * 1000 / len(articles)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=1000, help="stories in the small db")
    parser.add_argument("--large", type=int, default=100_000, help="stories in the large db")
    parser.add_argument("--articles", type=int, default=100, help="articles assigned")
    args = parser.parse_args(argv)
    articles = new_articles(args.articles, seed=7)
    with tempfile.TemporaryDirectory(prefix="sw-stories-") as tmp:
        fill_small, small = per_article_ms(Path(tmp), args.small, articles, 1)
        fill_large, large = per_article_ms(Path(tmp), args.large, articles, 1)
    ratio = large / small if small else float("inf")
    print(f"assigning {args.articles} articles (filled in {fill_small:.1f} s and "
          f"{fill_large:.1f} s)")
    print(f"  per article with {args.small:>7,} stories: {small:7.2f} ms")
    print(f"  per article with {args.large:>7,} stories: {large:7.2f} ms")
    verdict = "yes" if ratio < 3 else "NO"
    print(f"  ratio {ratio:.2f}x (target < 3x): {verdict}")
    result = {"small_ms": small, "large_ms": large, "ratio": ratio}
    print(json.dumps({k: round(v, 3) for k, v in result.items()}))
    return result


if __name__ == "__main__":
    main()
