"""Memory of the daemon's analyzers: English alone, and English with Russian and language id.

    python bench/memory.py [--docs N]

Each set-up is loaded in a fresh child process (spawned, so nothing is inherited from this
one) the way a daemon loads it: the analyzer of ``get_analyzer`` (spaCy's NER pipeline and the
gazetteer), the language identifier, then, for both languages, the Russian stack (slovnet's
NER, navec, pymorphy3) with the first Russian article. The child reports its resident set
size (psutil) after each step and, last, after analysing ``N`` English and ``N`` Russian
articles (English only: ``N`` English). The child dies with the benchmark (the kernel kills
it when its parent dies: :mod:`pipeline.workers`), and is stopped when the benchmark is.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: Seconds a child gets to load and analyse before the benchmark gives up on it.
CHILD_TIMEOUT = 600.0
MB = 1024 * 1024


def _child(conn: Connection, parent: int, russian: bool, docs: int) -> None:
    """Load the daemon's analyzers step by step, sending (step, RSS in bytes) after each
    (``russian`` False: English alone, every text given as English, as before issue 13)."""
    import psutil

    me = psutil.Process()

    def step(name: str) -> None:
        conn.send((name, me.memory_info().rss))

    step("Python started")
    from pipeline import workers

    workers._die_with_parent(parent)  # the project's guard: SIGKILLed if the bench dies
    from bench.corpus import corpus
    from bench.corpus_ru import corpus_ru
    from pipeline.config import Settings
    from pipeline.entities import analysis_text, get_analyzer
    from pipeline.language import detect_language

    step("SpaceWatch and spaCy imported")
    analyzer = get_analyzer(Settings())
    step("English analyzer (spaCy NER + gazetteer)")
    texts = [analysis_text(d.title, d.text) for d in corpus(docs)]
    languages: list[str | None] = ["en"] * len(texts)
    if russian:
        detect_language(texts[0])
        step("language identifier (py3langid)")
        texts += [analysis_text(d.title, d.text) for d in corpus_ru(docs)]
        list(analyzer.analyze(texts[-1:]))
        step("Russian stack (slovnet NER + navec + pymorphy3), first Russian text")
        languages = [None] * len(texts)  # identified, as the daemon's new articles are
    for _ in analyzer.analyze(texts, languages):
        pass
    step(f"after analysing {len(texts)} articles")
    conn.send(None)
    conn.close()


def measure(russian: bool, docs: int) -> list[tuple[str, int]]:
    """The steps of one child and its RSS after each."""
    ctx = multiprocessing.get_context("spawn")
    mine, theirs = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(theirs, os.getpid(), russian, docs),
                        name="memory-bench", daemon=True)
    child.start()
    theirs.close()
    steps: list[tuple[str, int]] = []
    try:
        while True:
            if not mine.poll(CHILD_TIMEOUT):
                raise RuntimeError("the memory benchmark's child stopped answering")
            try:
                item = mine.recv()
            except EOFError:
                raise RuntimeError(f"the memory benchmark's child died ({child.exitcode})"
                                   ) from None
            if item is None:
                return steps
            steps.append(item)
    finally:
        mine.close()
        child.join(5)
        if child.is_alive():
            child.kill()
            child.join()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=50,
                        help="articles of each language analysed at the end (default 50)")
    args = parser.parse_args(argv)
    if args.docs < 1:
        parser.error("--docs must be at least 1")
    result: dict[str, float] = {}
    for label, russian in (("English only (spaCy)", False),
                           ("English + Russian + language id", True)):
        steps = measure(russian, args.docs)
        print(f"{label}: RSS of a fresh process (MB)")
        previous = None
        for name, rss in steps:
            delta = "" if previous is None else f"{(rss - previous) / MB:+8.0f}"
            print(f"  {name:64} {rss / MB:7.0f} {delta}")
            previous = rss
        total = steps[-1][1] / MB
        result["both_mb" if russian else "english_mb"] = total
        print(f"  total {total:.0f} MB\n")
    extra = result["both_mb"] - result["english_mb"]
    print(f"both languages: {result['both_mb']:.0f} MB, English only: "
          f"{result['english_mb']:.0f} MB ({extra:+.0f} MB, "
          f"{result['both_mb'] / result['english_mb']:.2f}x)")
    result["extra_mb"] = extra
    return result


if __name__ == "__main__":
    main()
