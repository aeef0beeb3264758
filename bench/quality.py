"""Dev-set quality figures: NER precision/recall per kind, matcher vs TF-IDF baseline.

    python bench/quality.py

Not a benchmark of speed: the same figures the quality tests pin floors on.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.config import Settings  # noqa: E402
from pipeline.entities import get_analyzer  # noqa: E402
from pipeline.evaluate import (  # noqa: E402
    EVAL_KINDS,
    language_table,
    match_dev,
    ner_dates,
    ranking_report,
    score_ner,
    scores_by_language,
    split_of,
)
from pipeline.seeds import load_seeds  # noqa: E402


def main() -> dict[str, float]:
    analyzer = get_analyzer(Settings())
    records = yaml.safe_load((ROOT / "tests" / "data" / "ner_dev.yaml").read_text())
    predictions = list(analyzer.analyze([r["text"] for r in records], dates=ner_dates(records)))
    scores = score_ner(records, predictions)
    print(f"NER dev set: {len(records)} texts")
    print(f"{'kind':14} {'precision':>9} {'recall':>7} {'support':>8}")
    for kind in EVAL_KINDS:
        print(f"{kind:14} {scores.precision(kind):9.2f} {scores.recall(kind):7.2f} "
              f"{scores.support(kind):8d}")
    print(f"{'all':14} {scores.precision():9.2f} {scores.recall():7.2f}")
    print(f"roles found next to titles: {scores.roles_found}/{scores.roles_expected}; "
          f"false-friend violations: {len(scores.absent_violations)}")
    parts = {part: [i for i, r in enumerate(records) if split_of(r) == part]
             for part in ("dev", "heldout")}
    by_part = {part: score_ner([records[i] for i in idx], [predictions[i] for i in idx])
               for part, idx in parts.items()}
    print(f"\nBy split (dev {len(parts['dev'])} texts, held-out {len(parts['heldout'])}; "
          "held-out never tuned on)")
    print(f"{'kind':10} {'dev P':>6} {'dev R':>6} {'n':>4} {'held P':>7} {'held R':>7} {'n':>4}")
    for kind in ("AGENCY", "OFFICIAL", "CREW", "COMPANY"):
        dev, held = by_part["dev"], by_part["heldout"]
        print(f"{kind:10} {dev.precision(kind):6.2f} {dev.recall(kind):6.2f} "
              f"{dev.support(kind):4d} {held.precision(kind):7.2f} {held.recall(kind):7.2f} "
              f"{held.support(kind):4d}")
    print("\nBy language and split (P / R (n gold mentions))")
    for line in language_table(scores_by_language(records, predictions)):
        print(line)
    for part, part_scores in by_part.items():
        print(f"role-only ({part}): {part_scores.offices_found}/{part_scores.offices_expected} "
              f"resolved to the holder on the day, {part_scores.offices_wrong} wrong; "
              f"false-friend violations {len(part_scores.absent_violations)}")
    seed = next(s for s in load_seeds(ROOT / "seeds").seeds if s.id == "us-russia-iss-cooperation")
    dev = yaml.safe_load((ROOT / "tests" / "data" / "match_dev.yaml").read_text())
    threshold = Settings().match_threshold
    report = ranking_report(match_dev(dev, seed, analyzer), threshold)
    print(f"\nMatching dev set: {len(dev)} articles (relevant = same_story)")
    print(f"{'':24} {'matcher':>8} {'tf-idf':>8}")
    print(f"{'average precision':24} {report['matcher_ap']:8.3f} {report['baseline_ap']:8.3f}")
    print(f"{'label-order accuracy':24} {report['matcher_order']:8.3f} "
          f"{report['baseline_order']:8.3f}")
    for label in ("same_story", "neighbour", "off_topic"):
        print(f"{'mean score ' + label:24} {report['matcher_mean_' + label]:8.3f} "
              f"{report['baseline_mean_' + label]:8.3f}")
    print(f"{'precision @ threshold':24} {report['matcher_precision']:8.3f} "
          f"{report['baseline_precision']:8.3f}")
    print(f"{'recall @ threshold':24} {report['matcher_recall']:8.3f} "
          f"{report['baseline_recall']:8.3f}")
    print(f"(matcher threshold {threshold}; baseline at its best-F1 threshold "
          f"{report['baseline_threshold']:.3f})")
    return report


if __name__ == "__main__":
    main()
