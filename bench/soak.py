"""Daemon soak: memory over many short intervals (an hour or more of simulated schedule).

    python bench/soak.py [--feeds 30] [--seconds 90] [--scale 60]

The real daemon (APScheduler, one job per feed) runs in this process against feeds on
127.0.0.1 whose content moves on every request (one new item each time), so every run
fetches, stores, runs NER and matching. Intervals are 1 s standing for ``scale`` seconds of
schedule (default: 1 s = 1 min, so 90 s = 1.5 h). RSS is sampled every 2 s; after a warm-up
(the first third) it must stay flat within +/-10 % of its mean.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, FeedFarm, feed_xml, rss_mb  # noqa: E402
from bench.corpus import corpus  # noqa: E402
from pipeline.daemon import Daemon, DaemonOptions  # noqa: E402
from pipeline.store import Store  # noqa: E402


class MovingFarm(FeedFarm):
    """Each request to a feed shows a window of items one further than the last."""

    def __init__(self, docs: list, window: int = 10) -> None:
        super().__init__()
        self.docs, self.window, self.calls = docs, window, {}
        self.bodies = _Moving(self)


class _Moving(dict):
    def __init__(self, farm: MovingFarm) -> None:
        super().__init__()
        self.farm = farm

    def get(self, path: str, default: object = None) -> bytes | None:  # type: ignore[override]
        farm = self.farm
        name = path.strip("/").removesuffix(".xml")
        k = farm.calls.get(name, 0)
        farm.calls[name] = k + 1
        start = (hash(name) % 50 + k) % (len(farm.docs) - farm.window)
        return feed_xml(f"{name}-{k}", farm.docs[start:start + farm.window], farm.base)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--scale", type=float, default=60.0)
    args = parser.parse_args(argv)
    import logging

    # A 1 s interval is shorter than a busy run: skipped runs are expected here.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    docs = corpus(400, seed=5, min_words=150, max_words=400)
    samples: list[tuple[float, float]] = []
    with MovingFarm(docs) as farm, tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "feeds.yaml"
        lines = ["settings:", "  jitter: 0.2s", "  full_text: false", "  concurrency: 4",
                 f"  seeds_dir: {ROOT / 'seeds'}", "feeds:"]
        lines += [f"  - {{name: f{i:02d}, url: '{farm.base}/f{i:02d}.xml', interval: 1s}}"
                  for i in range(args.feeds)]
        cfg.write_text("\n".join(lines) + "\n")
        daemon = Daemon(DaemonOptions(cfg, Path(tmp) / "soak.db"))
        thread = threading.Thread(target=daemon.run, daemon=True)
        started = time.monotonic()
        thread.start()
        while time.monotonic() - started < args.seconds:
            time.sleep(2.0)
            samples.append((time.monotonic() - started, rss_mb()))
        daemon.stop()
        thread.join(timeout=30)
        with Store(Path(tmp) / "soak.db") as store:
            fetches = store.scalar("SELECT count(*) FROM fetches")
            articles = store.scalar("SELECT count(*) FROM articles")
            failed = store.scalar("SELECT count(*) FROM fetches WHERE outcome = 'failed'")
    steady = [mb for t, mb in samples if t >= args.seconds / 3]
    mean = statistics.mean(steady)
    lo, hi = min(steady), max(steady)
    simulated_h = args.seconds * args.scale / 3600
    print(f"Soak: {args.feeds} feeds at 1 s intervals for {args.seconds:.0f} s "
          f"(= {simulated_h:.1f} h of schedule at 1 s = {args.scale:.0f} s); {fetches} fetches "
          f"({failed} failed), {articles} articles stored")
    print(f"RSS after warm-up: mean {mean:.0f} MB, min {lo:.0f}, max {hi:.0f} -> "
          f"{(lo - mean) / mean * 100:+.1f} % / {(hi - mean) / mean * 100:+.1f} % "
          "(target within +/-10 %)")
    first, last = statistics.mean(steady[:3]), statistics.mean(steady[-3:])
    print(f"drift from start to end of the steady state: {(last - first) / first * 100:+.1f} %")
    return {"mean_mb": mean, "min_pct": (lo - mean) / mean * 100,
            "max_pct": (hi - mean) / mean * 100, "fetches": fetches}


if __name__ == "__main__":
    main()
