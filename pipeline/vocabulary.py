"""The word lists of ``models/`` the English linker reads: titles and country names.

Each carries the hash of its file, part of the NLP version recorded with every article.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .gazetteer import read_model_yaml
from .records import fold
from .resources import default_models_dir


@dataclass(frozen=True)
class Titles:
    """Title vocabulary from ``models/titles.yaml``."""

    words: frozenset[str]
    connectors: frozenset[str]
    stops: frozenset[str]
    modifiers: frozenset[str]
    not_entities: frozenset[str]
    version: str


@dataclass(frozen=True)
class Countries:
    """Country names from ``models/countries.yaml`` (folded), for the model's entities."""

    names: frozenset[str]
    version: str


def load_countries(path: Path | None = None) -> Countries:
    """Load the country names the model's ORG/GPE/LOC entities are checked against."""
    path = path or default_models_dir() / "countries.yaml"
    data, raw = read_model_yaml(path, "country names")
    return Countries(names=frozenset(fold(str(c)) for c in data.get("countries") or []),
                     version=hashlib.sha256(raw).hexdigest()[:8])


def load_titles(path: Path | None = None) -> Titles:
    """Load the title vocabulary."""
    path = path or default_models_dir() / "titles.yaml"
    data, raw = read_model_yaml(path, "title vocabulary")
    return Titles(words=frozenset(fold(w) for w in data.get("titles", [])),
                  connectors=frozenset(fold(w) for w in data.get("connectors", [])),
                  stops=frozenset(fold(w) for w in data.get("stops", [])),
                  modifiers=frozenset(fold(w) for w in data.get("modifiers", [])),
                  not_entities=frozenset(fold(w) for w in data.get("not_entities", [])),
                  version=hashlib.sha256(raw).hexdigest()[:8])


def models_file(models_dir: Path | None, name: str) -> Path:
    """``name`` in ``models_dir`` when it is there, else the bundled one."""
    if models_dir is not None and (models_dir / name).is_file():
        return models_dir / name
    return default_models_dir() / name
