"""Seed articles in ``seeds/``: the stories a user follows.

One file per seed (``.md`` or ``.txt``): the article text with optional YAML front matter —
``id``, ``title``, ``date``, ``url`` and ``boosts`` (``entities``: gazetteer id -> weight,
``phrases``: phrase -> weight).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from .errors import ConfigError

_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Seed:
    """One seed article."""

    id: str
    title: str
    text: str
    path: str
    date: str | None = None
    url: str | None = None
    entity_boosts: dict[str, float] = field(default_factory=dict)
    phrase_boosts: dict[str, float] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """A hash of everything that shapes the seed's profile."""
        key = repr((self.id, self.title, self.text, sorted(self.entity_boosts.items()),
                    sorted(self.phrase_boosts.items())))
        return hashlib.sha256(key.encode()).hexdigest()[:12]


def load_seeds(folder: str | Path) -> list[Seed]:
    """Every seed in ``folder``, sorted by file name. A missing folder means no seeds."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    seeds: list[Seed] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".md", ".txt") or path.name.startswith("."):
            continue
        seed = load_seed(path)
        if seed.id in seen:
            raise ConfigError(f"{path}: seed id {seed.id!r} is also used by {seen[seed.id]}")
        seen[seed.id] = path.name
        seeds.append(seed)
    return seeds


def load_seed(path: Path) -> Seed:
    """Read one seed file."""
    try:
        post = frontmatter.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read seed: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: front matter is not valid YAML: {exc}") from None
    meta: dict[str, Any] = dict(post.metadata)
    allowed = {"id", "title", "date", "url", "boosts", "source_file"}
    unknown = sorted(set(meta) - allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown front-matter key {unknown[0]!r} "
                          f"(allowed: {', '.join(sorted(allowed))})")
    text = post.content.strip()
    if len(text.split()) < 20:
        raise ConfigError(f"{path}: a seed needs the article text (at least 20 words)")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    title = str(meta.get("title") or next((ln for ln in lines if len(ln.split()) >= 4),
                                          lines[0]))
    seed_id = str(meta.get("id") or _SLUG.sub("-", path.stem.lower()).strip("-"))
    boosts = meta.get("boosts") or {}
    if not isinstance(boosts, dict):
        raise ConfigError(f"{path}: boosts must be a mapping with entities and phrases")
    return Seed(id=seed_id, title=title, text=text, path=str(path),
                date=str(meta["date"]) if meta.get("date") else None,
                url=str(meta["url"]) if meta.get("url") else None,
                entity_boosts=_weights(boosts.get("entities"), path, "entities"),
                phrase_boosts=_weights(boosts.get("phrases"), path, "phrases"))


def _weights(raw: Any, path: Path, what: str) -> dict[str, float]:
    if raw is None:
        return {}
    if isinstance(raw, list):
        raw = {str(k): 1.5 for k in raw}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: boosts.{what} must map names to weights")
    out = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{path}: boosts.{what}.{key}: weight must be a positive number")
        out[str(key)] = float(value)
    return out
