"""Fetch concurrency and conditional GET.

    python bench/fetch_concurrency.py [--feeds 200] [--delay 0.3]

Every request to the local server waits ``delay`` seconds before answering. One pass over
all feeds is timed against the sequential sum (feeds x delay); a second pass over the
unchanged feeds must be all 304 Not Modified, with zero feed parses and zero NER calls.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import FeedFarm, bench_config, timed  # noqa: E402
from bench.corpus import corpus  # noqa: E402
from pipeline import ingest  # noqa: E402
from pipeline.entities import Analyzer, get_analyzer  # noqa: E402
from pipeline.ingest import analyse_pending, fetch_feeds, register_feeds, run_pass  # noqa: E402
from pipeline.store import Store  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.3)
    args = parser.parse_args(argv)
    docs = corpus(args.feeds * 2, seed=11, min_words=60, max_words=120)
    parses = {"n": 0}
    ner_calls = {"n": 0}
    real_parse, real_analyze = ingest.parse_feed, Analyzer.analyze

    def counting_parse(*a, **kw):
        parses["n"] += 1
        return real_parse(*a, **kw)

    def counting_analyze(self, texts, *args, **kwargs):
        texts = list(texts)
        ner_calls["n"] += len(texts)
        return real_analyze(self, texts, *args, **kwargs)

    with FeedFarm(delay=args.delay) as farm, tempfile.TemporaryDirectory() as tmp, \
            mock.patch.object(ingest, "parse_feed", counting_parse), \
            mock.patch.object(Analyzer, "analyze", counting_analyze):
        feeds = {f"f{i:03d}": farm.add(f"f{i:03d}", docs[2 * i:2 * i + 2])
                 for i in range(args.feeds)}
        config = bench_config(feeds, concurrency=8)
        get_analyzer(config.settings)
        with Store(Path(tmp) / "c.db") as store:
            with timed() as fetch_only:
                register_feeds(store, config)
                report0 = fetch_feeds(store, config)
            parses_first = parses["n"]
            with timed() as first:
                analyse_pending(store, config)
            ner_before = ner_calls["n"]
            with timed() as second:
                report2 = run_pass(store, config)
        sequential = args.feeds * args.delay
        not_modified = sum(1 for f in report2.feeds if f.outcome == "not_modified")
    print(f"Fetch: {args.feeds} feeds, each request answered after {args.delay * 1000:.0f} ms, "
          f"concurrency {config.settings.concurrency}")
    print(f"{'':36} {'seconds':>8}")
    print(f"{'sequential sum (feeds x delay)':36} {sequential:8.2f}")
    print(f"{'first pass: fetch only':36} {fetch_only['seconds']:8.2f}   "
          f"ratio {fetch_only['seconds'] / sequential:.3f} (target <= 0.167); "
          f"{report0.new} articles, {parses_first} parses")
    print(f"{'first pass: NER + matching after':36} {first['seconds']:8.2f}")
    print(f"{'second pass (unchanged feeds)':36} {second['seconds']:8.2f}   "
          f"{not_modified}/{args.feeds} answered 304, "
          f"{parses['n'] - parses_first} parses, {ner_calls['n'] - ner_before} texts to NER")
    return {"ratio": fetch_only["seconds"] / sequential, "second_s": second["seconds"],
            "not_modified": not_modified, "second_parses": parses["n"] - parses_first,
            "second_ner": ner_calls["n"] - ner_before}


if __name__ == "__main__":
    main()
