"""Story clustering quality: B-cubed precision and recall on the story dev sets (issue 14).

    python bench/stories_quality.py [--passes one|daily] [--show-heldout-errors]

Each set (tests/data/stories/dev.yaml, heldout.yaml) is imported into a fresh database the
way ``spacewatch import`` does it (records -> ``import_record`` -> ``save_articles``), in
publication order, and analysed by ``ingest.analyse_pending`` with the bundled seeds; the
stories it forms (``story_articles``) are scored against the gold labels. ``--passes daily``
imports and analyses one publication day at a time instead, as a daemon meets them.

Not a benchmark of speed: the figures tests/test_story_quality.py pins floors on. The
held-out set is never tuned on; its errors are listed only when asked for.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.config import Config, Settings  # noqa: E402
from pipeline.evaluate import bcubed  # noqa: E402
from pipeline.ingest import analyse_pending  # noqa: E402
from pipeline.normalize import import_record  # noqa: E402
from pipeline.records import iso, now_utc  # noqa: E402
from pipeline.store import Store  # noqa: E402

DATA = ROOT / "tests" / "data" / "stories"
SETS = {"dev": DATA / "dev.yaml", "heldout": DATA / "heldout.yaml"}


def load_set(path: Path) -> list[dict[str, Any]]:
    """A story set's records, in publication order (then id): the order articles arrive."""
    records = yaml.safe_load(path.read_text(encoding="utf-8"))
    return sorted(records, key=lambda r: (r["published"], r["id"]))


def _config() -> Config:
    return Config(feeds=(), settings=dataclasses.replace(Settings(),
                                                         seeds_dir=str(ROOT / "seeds")))


def cluster_set(records: Sequence[dict[str, Any]], db_path: Path, *,
                passes: str = "one") -> dict[str, int]:
    """Import ``records`` into a new database at ``db_path``, analyse them, and return each
    record id's story id (records in no story are left out)."""
    config = _config()
    now = now_utc()
    days: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        days["all" if passes == "one" else record["published"][:10]].append(record)
    with Store(db_path) as store:
        for _day, batch in sorted(days.items()):
            fields = ("id", "title", "text", "url", "published", "language")
            articles = [import_record({k: r[k] for k in fields}, now, config.settings)
                        for r in batch]
            store.save_articles([a for a in articles if a is not None], iso(now))
            analyse_pending(store, config)  # entities, matching, then the stories step
        rows = store.rows("SELECT a.guid AS guid, sa.story_id AS story_id FROM articles a "
                          "JOIN story_articles sa ON sa.article_id = a.id")
    return {row["guid"]: row["story_id"] for row in rows}


@dataclass(frozen=True)
class SetScores:
    """B-cubed figures of one set, overall and per language, and where it went wrong."""

    precision: float
    recall: float
    articles: int
    gold_stories: int
    predicted_stories: int
    unplaced: int                          # articles in no story (each scored as its own)
    by_language: dict[str, tuple[float, float, int]]
    split: dict[str, list[list[str]]]      # gold story -> its articles grouped as predicted
    merged: list[list[tuple[str, str]]]    # predicted stories holding several gold stories

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score_set(records: Sequence[dict[str, Any]], predicted: dict[str, int]) -> SetScores:
    """Score a clustering of ``records`` against their gold ``story`` labels."""
    gold = {r["id"]: r["story"] for r in records}
    pred: dict[str, Any] = {i: predicted.get(i, f"none:{i}") for i in gold}
    p, r = bcubed(gold, pred)
    langs: dict[str, list[str]] = defaultdict(list)
    for record in records:
        langs[record["language"]].append(record["id"])
    by_language = {lang: (*bcubed(gold, pred, ids), len(ids))
                   for lang, ids in sorted(langs.items())}
    by_gold: dict[str, dict[Any, list[str]]] = defaultdict(lambda: defaultdict(list))
    by_pred: dict[Any, list[tuple[str, str]]] = defaultdict(list)
    for item in gold:
        by_gold[gold[item]][pred[item]].append(item)
        by_pred[pred[item]].append((gold[item], item))
    split = {story: list(parts.values()) for story, parts in sorted(by_gold.items())
             if len(parts) > 1}
    merged = [sorted(members) for members in by_pred.values()
              if len({story for story, _ in members}) > 1]
    return SetScores(precision=p, recall=r, articles=len(gold),
                     gold_stories=len(set(gold.values())), predicted_stories=len(by_pred),
                     unplaced=sum(1 for i in gold if i not in predicted),
                     by_language=by_language, split=split, merged=merged)


def run_set(name: str, *, passes: str = "one") -> SetScores:
    """Cluster and score the named set (``dev`` or ``heldout``) in a temporary database."""
    records = load_set(SETS[name])
    with tempfile.TemporaryDirectory(prefix=f"stories-{name}-") as tmp:
        predicted = cluster_set(records, Path(tmp) / "stories.db", passes=passes)
    return score_set(records, predicted)


def _errors(scores: SetScores) -> list[str]:
    lines = [f"  split {story}: " + " | ".join(" ".join(part) for part in parts)
             for story, parts in scores.split.items()]
    lines += ["  merged: " + ", ".join(f"{item} ({story})" for story, item in members)
              for members in scores.merged]
    return lines or ["  none"]


def main(argv: Sequence[str] | None = None) -> dict[str, SetScores]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", choices=("one", "daily"), default="one",
                        help="one import of the whole set, or one import+analysis per day")
    parser.add_argument("--show-heldout-errors", action="store_true",
                        help="also list the held-out set's split and merged stories")
    args = parser.parse_args(argv)
    results = {name: run_set(name, passes=args.passes) for name in SETS}
    dev, held = results["dev"], results["heldout"]
    print(f"Story clustering, B-cubed ({args.passes} pass{'es' if args.passes != 'one' else ''};"
          " held-out never tuned on)")
    print(f"{'':22} {'dev':>10} {'held-out':>10}")
    for label, fn in (("precision", lambda s: f"{s.precision:.3f}"),
                      ("recall", lambda s: f"{s.recall:.3f}"),
                      ("F1", lambda s: f"{s.f1:.3f}"),
                      ("articles", lambda s: str(s.articles)),
                      ("gold stories", lambda s: str(s.gold_stories)),
                      ("predicted stories", lambda s: str(s.predicted_stories)),
                      ("articles in no story", lambda s: str(s.unplaced))):
        print(f"{label:22} {fn(dev):>10} {fn(held):>10}")
    for lang in sorted(set(dev.by_language) | set(held.by_language)):
        cells = []
        for scores in (dev, held):
            p, r, n = scores.by_language.get(lang, (1.0, 1.0, 0))
            cells.append(f"{p:.2f}/{r:.2f} ({n})")
        print(f"{'P/R ' + lang:22} {cells[0]:>10} {cells[1]:>10}")
    print("dev errors:")
    print("\n".join(_errors(dev)))
    if args.show_heldout_errors:
        print("held-out errors:")
        print("\n".join(_errors(held)))
    return results


if __name__ == "__main__":
    main()
