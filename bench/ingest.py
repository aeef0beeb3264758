"""Ingest throughput: the real fetch pass against spaCy's floor and the naive way.

    python bench/ingest.py [--feeds 40] [--items 25] [--naive-sample 150] [--processes 1]

A deterministic corpus (bench/corpus.py, 400-1,200 words per article) is served as RSS feeds
from 127.0.0.1 and run through ``run_pass`` — fetch, parse, normalize, store, NER, match —
into a fresh database. In the same run: (a) the floor, the same loaded NER pipeline on the
same texts via nlp.pipe and nothing else; (b) the naive way, per-article nlp() with the full
default pipeline and row-by-row inserts (measured on a sample, reported as a rate).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import FeedFarm, bench_config, peak_rss_mb, timed  # noqa: E402
from bench.corpus import corpus  # noqa: E402
from pipeline.entities import analysis_text, get_analyzer, load_nlp  # noqa: E402
from pipeline.ingest import run_pass  # noqa: E402
from pipeline.store import Store  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--items", type=int, default=25)
    parser.add_argument("--naive-sample", type=int, default=150)
    parser.add_argument("--processes", type=int, default=1,
                        help="nlp_processes for the ingest and the floor")
    args = parser.parse_args(argv)
    n = args.feeds * args.items
    docs = corpus(n, seed=7)
    words = sum(d.words for d in docs)
    texts = [analysis_text(d.title, d.text) for d in docs]
    with FeedFarm() as farm, tempfile.TemporaryDirectory() as tmp:
        feeds = {f"feed{i:03d}": farm.add(f"feed{i:03d}", docs[i * args.items:(i + 1) *
                                                              args.items])
                 for i in range(args.feeds)}
        config = bench_config(feeds, nlp_processes=args.processes, concurrency=8)
        analyzer = get_analyzer(config.settings)  # loaded once, outside the timings
        list(analyzer.analyze(texts[:4]))
        with Store(Path(tmp) / "bench.db") as store, timed() as t_ingest:
            report = run_pass(store, config)
        with Store(Path(tmp) / "bench.db") as store:
            stored = store.scalar("SELECT count(*) FROM articles")
            processed = store.scalar("SELECT count(*) FROM articles WHERE nlp_version "
                                     "IS NOT NULL")
            mentions = store.scalar("SELECT count(*) FROM mentions")
            events = store.scalar("SELECT count(*) FROM matches")
        ingest_peak = peak_rss_mb()

    nlp = analyzer.nlp
    with timed() as t_floor:
        for _ in nlp.pipe(texts, batch_size=config.settings.nlp_batch_size,
                          n_process=args.processes):
            pass

    full = load_nlp(config.settings.nlp_model, full=True)
    sample = docs[: args.naive_sample]
    sample_words = sum(d.words for d in sample)
    with tempfile.TemporaryDirectory() as tmp, timed() as t_naive:
        conn = sqlite3.connect(Path(tmp) / "naive.db")
        conn.execute("CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT, text TEXT)")
        conn.execute("CREATE TABLE mentions (article_id INT, text TEXT, label TEXT, start INT)")
        for doc in sample:
            parsed = full(analysis_text(doc.title, doc.text))
            cur = conn.execute("INSERT INTO articles (title, text) VALUES (?, ?)",
                               (doc.title, doc.text))
            conn.commit()
            for ent in parsed.ents:
                conn.execute("INSERT INTO mentions VALUES (?, ?, ?, ?)",
                             (cur.lastrowid, ent.text, ent.label_, ent.start_char))
                conn.commit()
        conn.close()

    rows = [
        ("SpaceWatch ingest (fetch+parse+store+NER+match)", t_ingest["seconds"], n, words),
        ("floor: nlp.pipe, same NER pipeline, nothing else", t_floor["seconds"], n, words),
        ("naive: nlp() full pipeline + row-by-row inserts", t_naive["seconds"], len(sample),
         sample_words),
    ]
    print(f"Ingest: {args.feeds} feeds x {args.items} items = {n} articles, {words} words; "
          f"nlp_processes={args.processes}")
    print(f"{'path':52} {'seconds':>8} {'articles/s':>10} {'words/s':>9}")
    rates = {}
    for name, secs, count, w in rows:
        rates[name] = w / secs
        print(f"{name:52} {secs:8.1f} {count / secs:10.1f} {w / secs:9.0f}")
    ingest, floor, naive = (rates[r[0]] for r in rows)
    print(f"ratio ingest/floor: {ingest / floor:.2f}  (target >= 0.8)")
    print(f"ratio ingest/naive: {ingest / naive:.2f}  (target >= 5)")
    print(f"stored {stored} articles ({processed} through NER), {mentions} mentions, "
          f"{events} match events; {report.failed} feeds failed; "
          f"peak RSS of the pass {ingest_peak:.0f} MB")
    return {"ingest_wps": ingest, "floor_wps": floor, "naive_wps": naive,
            "ratio_floor": ingest / floor, "ratio_naive": ingest / naive, "stored": stored,
            "peak_rss_mb": ingest_peak}


if __name__ == "__main__":
    main()
