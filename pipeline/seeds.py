"""Seed articles in ``seeds/``: the stories a user follows.

One file per seed (``.md`` or ``.txt``): the article text with optional YAML front matter —
``id``, ``title``, ``date``, ``url`` and ``boosts`` (``entities``: gazetteer id -> weight,
``phrases``: phrase -> weight).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler

from .errors import SeedError
from .records import slug


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


@dataclass(frozen=True)
class SeedProblem:
    """A seed file that was skipped, and why (one line for the user)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeedProblem:
        return cls(path=str(data.get("path", "")), reason=str(data.get("reason", "")))


@dataclass(frozen=True)
class SeedSet:
    """The seeds that loaded from a folder, and the files that did not.

    One bad file never stops the rest: it is skipped and reported here, and whoever prints
    or logs (the CLI, the daemon) names it.
    """

    folder: Path  # absolute
    seeds: tuple[Seed, ...] = ()
    problems: tuple[SeedProblem, ...] = ()

    def warnings(self, *, matching: bool = True) -> list[str]:
        """One line per skipped file, then (for a command that matches) the warning that
        no seed loaded at all."""
        lines = [f"seed skipped: {problem}" for problem in self.problems]
        if matching and not self.seeds:
            lines.append(f"no seeds loaded from {self.folder}: nothing will be matched")
        return lines

    def keeping(self, previous: SeedSet | None) -> SeedSet:
        """These seeds, plus the last good version (from ``previous``) of every seed whose
        file is now invalid — what a long-running process uses, as it keeps the last good
        feeds.yaml. A file that was removed is not kept."""
        if previous is None or not self.problems:
            return self
        before = {seed.path: seed for seed in previous.seeds}
        ids = {seed.id for seed in self.seeds}
        kept, problems = list(self.seeds), []
        for problem in self.problems:
            old = before.get(problem.path)
            if old is not None and old.id not in ids:
                kept.append(old)
                ids.add(old.id)
                problem = SeedProblem(problem.path,
                                      f"{problem.reason} (its last good version stays in use)")
            problems.append(problem)
        return SeedSet(folder=self.folder, seeds=tuple(sorted(kept, key=lambda s: s.path)),
                       problems=tuple(problems))


#: The ``meta`` key where matching runs record the skipped seed files (``status`` shows them).
PROBLEMS_META_KEY = "seed_problems"


def problems_to_json(problems: Sequence[SeedProblem]) -> str:
    """The problems as the JSON stored under :data:`PROBLEMS_META_KEY`."""
    return json.dumps([p.to_json() for p in problems], ensure_ascii=False)


def problems_from_json(value: str | None) -> list[SeedProblem]:
    """The problems stored under :data:`PROBLEMS_META_KEY` (none when never recorded)."""
    data = json.loads(value) if value else []
    return [SeedProblem.from_json(d) for d in data if isinstance(d, dict)]


#: Prefixes of the ids of entities found by the statistical model, not in the gazetteer
#: (``entities`` lists them); a seed may boost them, unchecked.
MODEL_ID_PREFIXES = ("person:", "org:", "place:")


def load_seeds(folder: str | Path, entity_ids: Collection[str] | None = None) -> SeedSet:
    """Every valid seed in ``folder``, sorted by file name, and a problem per invalid file.

    A missing folder means no seeds. ``entity_ids`` are the gazetteer ids that entity boosts
    may name (default: those of the bundled gazetteer). A second file with an id already
    used is skipped, naming both files.
    """
    folder = Path(folder)
    result = SeedSet(folder=folder.resolve())
    if not folder.is_dir():
        return result
    if entity_ids is None:
        from .gazetteer import load_gazetteer

        entity_ids = load_gazetteer().entries.keys()
    seeds: list[Seed] = []
    problems: list[SeedProblem] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".md", ".txt") or path.name.startswith("."):
            continue
        try:
            seed = load_seed(path, entity_ids)
        except SeedError as exc:
            problems.append(SeedProblem(exc.path, exc.reason))
            continue
        if seed.id in seen:
            problems.append(SeedProblem(str(path), f"seed id {seed.id!r} is also used by "
                                                   f"{seen[seed.id]}; this file is skipped"))
            continue
        seen[seed.id] = str(path)
        seeds.append(seed)
    return SeedSet(folder=result.folder, seeds=tuple(seeds), problems=tuple(problems))


def load_seed(path: Path, entity_ids: Collection[str] | None = None) -> Seed:
    """Read one seed file; :class:`SeedError` names the file and what is wrong.

    With ``entity_ids``, an entity boost must name one of them (or a model-found entity).
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(str(path), f"cannot read seed: {exc}") from None
    meta, text = _front_matter(raw, path)
    allowed = {"id", "title", "date", "url", "boosts", "source_file"}
    unknown = sorted(str(k) for k in set(meta) - allowed)
    if unknown:
        raise SeedError(str(path), f"unknown front-matter key {unknown[0]!r} "
                                   f"(allowed: {', '.join(sorted(allowed))})")
    if len(text.split()) < 20:
        raise SeedError(str(path), "a seed needs the article text (at least 20 words)")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    title = str(meta.get("title") or next((ln for ln in lines if len(ln.split()) >= 4),
                                          lines[0]))
    seed_id = str(meta.get("id") or slug(path.stem))
    boosts = meta.get("boosts") or {}
    if not isinstance(boosts, dict):
        raise SeedError(str(path), "boosts must be a mapping with entities and phrases")
    unknown = sorted(set(boosts) - {"entities", "phrases"}, key=str)
    if unknown:
        raise SeedError(str(path), f"unknown key boosts.{unknown[0]} "
                                   "(allowed: entities, phrases)")
    entity_boosts = _weights(boosts.get("entities"), path, "entities")
    if entity_ids is not None:
        _check_entity_ids(entity_boosts, entity_ids, path)
    return Seed(id=seed_id, title=title, text=text, path=str(path),
                date=str(meta["date"]) if meta.get("date") else None,
                url=str(meta["url"]) if meta.get("url") else None,
                entity_boosts=entity_boosts,
                phrase_boosts=_weights(boosts.get("phrases"), path, "phrases"))


def _front_matter(raw: str, path: Path) -> tuple[dict[str, Any], str]:
    """The YAML front matter (a mapping; none is ``{}``) and the text after it. Unlike
    ``frontmatter.loads``, a front matter that is not a mapping is an error, not ignored."""
    handler = YAMLHandler()
    text = raw.strip()
    if not handler.detect(text):
        return {}, text
    try:
        head, content = handler.split(text)
    except ValueError:  # no closing delimiter: all of it is text
        return {}, text
    try:
        data = yaml.safe_load(head)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        skipped = raw[:len(raw) - len(raw.lstrip())].count("\n")  # blank lines before ---
        where = f"line {mark.line + 1 + skipped}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise SeedError(str(path), f"front matter is not valid YAML ({where}{problem})") \
            from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SeedError(str(path), "front matter must be a mapping of keys to values "
                                   f"(key: value lines), not a {type(data).__name__}")
    return data, content.strip()


def _check_entity_ids(boosts: dict[str, float], entity_ids: Collection[str],
                      path: Path) -> None:
    known = set(entity_ids)
    for eid in boosts:
        if eid in known or eid.startswith(MODEL_ID_PREFIXES):
            continue
        close = difflib.get_close_matches(eid, sorted(known), n=3, cutoff=0.6)
        hint = f"closest: {', '.join(close)}" if close else "no similar id in the gazetteer"
        raise SeedError(str(path), f"boosts.entities: {eid!r} is not a gazetteer id ({hint})")


def _weights(raw: Any, path: Path, what: str) -> dict[str, float]:
    if raw is None:
        return {}
    if isinstance(raw, list):
        raw = {str(k): 1.5 for k in raw}
    if not isinstance(raw, dict):
        raise SeedError(str(path), f"boosts.{what} must map names to weights")
    out = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise SeedError(str(path), f"boosts.{what}.{key}: weight must be a positive number")
        out[str(key)] = float(value)
    return out
