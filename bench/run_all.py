"""``make bench``: every benchmark at its full size, one after another, figures printed.

    python bench/run_all.py

Each script can also run alone (``python bench/<name>.py --help``). Nothing here is a test:
no figure is asserted; tests/test_bench_smoke.py only runs each script at a tiny size.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (  # noqa: E402
    alert_latency,
    fetch_concurrency,
    ingest,
    memory,
    ner_speed,
    quality,
    scale,
    soak,
    stories_quality,
    story_assign,
    xml_bomb,
)

RUNS = [
    ("1. NER stage vs spaCy's full pipeline", ner_speed.main, ["--docs", "300"]),
    ("1b. Russian NER stage vs slovnet's NER alone", ner_speed.main, ["--language", "ru"]),
    ("2. Ingest throughput (100 feeds x 30 items)", ingest.main,
     ["--feeds", "100", "--items", "30", "--naive-sample", "150", "--processes", "2"]),
    ("3. Fetch concurrency and conditional GET", fetch_concurrency.main, []),
    ("4. The log at scale", scale.main, []),
    ("5. Daemon soak (memory)", soak.main, ["--feeds", "30", "--seconds", "120"]),
    ("5b. Memory of the analyzers: English vs English + Russian", memory.main, []),
    ("6. Hostile XML: quadratic blowup memory", lambda argv: xml_bomb.main(), []),
    ("7. Dev-set quality (NER, matching)", lambda argv: quality.main(), []),
    ("8. Story clustering quality (B-cubed, dev and held-out)", stories_quality.main, []),
    ("9. Story assignment: per article with 1K vs 100K stories", story_assign.main, []),
    ("10. Alert latency (fetch to webhook, real daemon)", alert_latency.main,
     ["--trials", "20"]),
]


def main() -> None:
    print(f"SpaceWatch benchmarks on {platform.node()} — Python {platform.python_version()}, "
          f"{platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}\n")
    for title, fn, argv in RUNS:
        print(f"== {title} ==")
        started = time.perf_counter()
        fn(argv)
        print(f"({time.perf_counter() - started:.0f} s)\n", flush=True)


if __name__ == "__main__":
    main()
