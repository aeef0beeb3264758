"""The analyst's corrections to the entities: the gazetteer overlay file.

``settings.gazetteer_overlay`` (default ``gazetteer.local.yaml`` beside feeds.yaml) holds
three sections, read with the gazetteer (:func:`pipeline.gazetteer.load_gazetteer`) and part
of its hash, so an edit makes every article stale for ``spacewatch reprocess``:

- ``entities:`` entities in the gazetteer's own schema (a promoted model entity, a missing
  agency), checked by the gazetteer's rules;
- ``merge:`` ``from-id: into-id``: every mention of the first is a mention of the second;
- ``ban:`` ``ids:`` and ``surfaces:``: entities and texts never linked or stored.

``spacewatch entities merge/ban/promote`` edit it through :func:`merge`, :func:`ban` and
:func:`promote`: each reads the current file (refusing one that is already invalid), checks
the result as the analyzer will read it, then replaces the file atomically, keeping the
previous version as ``<file>.bak``. Stored mentions change only when articles are analysed
again; the event log is never touched.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .entities import (
    Analyzer,
    analyzer_files,
    cues_folder,
    forget_analyzers,
    load_countries,
    load_titles,
)
from .errors import ConfigError, InputError
from .gazetteer import Gazetteer, load_gazetteer
from .offices import load_offices
from .records import GAZETTEER_KINDS, PEOPLE, Mention, fold, slug
from .typing_rules import load_cues
from .variants import load_name_forms
from .vocabulary import models_file

if TYPE_CHECKING:
    from .config import Settings
    from .store import Store

HEADER = ("# SpaceWatch gazetteer overlay: the analyst's corrections (README, \"Entities\").\n"
          "# Written by `spacewatch entities merge/ban/promote`; hand edits are fine too.\n"
          "# After an edit run `spacewatch reprocess` (a running daemon reloads it by itself).\n")
_POSSESSIVE = re.compile(r"['\u2019]s?$")


class CuratedAnalyzer(Analyzer):
    """The analyzer every command uses: the model's and the gazetteer's mentions with the
    overlay's merges and bans applied (:meth:`pipeline.gazetteer.Gazetteer.curate`)."""

    def analyze(self, *args: Any, **kwargs: Any) -> Iterator[list[Mention]]:
        """As :meth:`Analyzer.analyze`, each text's mentions curated."""
        for mentions in super().analyze(*args, **kwargs):
            yield self.gazetteer.curate(mentions)


def build_analyzer(model: str, *, batch_size: int, n_process: int, max_chars: int,
                   models_dir: Path | None, overlay: Path | None) -> Analyzer:
    """Load the analyzer for ``models_dir``'s gazetteer (bundled when None) and ``overlay``."""
    gazetteer = load_gazetteer(models_dir / "gazetteer.yaml" if models_dir else None, overlay)
    return CuratedAnalyzer(model, gazetteer=gazetteer, batch_size=batch_size,
                           n_process=n_process, max_chars=max_chars, models_dir=models_dir)


# -- the files a running daemon watches ---------------------------------------------------

def gazetteer_files(settings: Settings) -> tuple[Path, ...]:
    """The files the analyzer is built from: the gazetteer, titles, countries, offices,
    typing cues and name forms (:func:`pipeline.entities.analyzer_files`: from
    ``models_dir`` where it has them, else bundled) and the overlay."""
    files = list(analyzer_files(_models_dir(settings)))
    overlay = settings.overlay_path
    if overlay is not None:
        files.append(overlay)
    return tuple(files)


FileStamp = tuple[tuple[str, int, int], ...]


def files_stamp(settings: Settings) -> FileStamp:
    """(path, mtime in ns, size) of each of :func:`gazetteer_files` (-1 when missing)."""
    out = []
    for path in gazetteer_files(settings):
        try:
            st = path.stat()
        except OSError:
            out.append((str(path), -1, -1))
        else:
            out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(out)


def changed_files(before: FileStamp, after: FileStamp) -> list[str]:
    """The names of the files whose stamp differs."""
    old = {path: rest for path, *rest in before}
    return [Path(path).name for path, *rest in after if old.get(path) != rest]


def check_files(settings: Settings) -> Gazetteer:
    """Read every gazetteer file as the analyzer will (raises :class:`ConfigError`), without
    loading the model: what a reload checks before dropping the analyzer in use."""
    folder = _models_dir(settings)
    gazetteer = load_gazetteer(folder / "gazetteer.yaml" if folder else None,
                               settings.overlay_path)
    load_titles(models_file(folder, "titles.yaml"))
    load_countries(models_file(folder, "countries.yaml"))
    load_offices(models_file(folder, "offices.yaml"))
    load_cues(cues_folder(folder))
    load_name_forms(models_file(folder, "name_forms.yaml"))
    return gazetteer


def _models_dir(settings: Settings) -> Path | None:
    """``settings.models_dir`` as the analyzer takes it (None: the bundled models)."""
    return Path(settings.models_dir) if settings.models_dir else None


# -- editing the overlay --------------------------------------------------------------------

@dataclass(frozen=True)
class Written:
    """What a curation command wrote: the overlay, its backup (None for a new file) and
    notes for the user (aliases left out, a merge replaced)."""

    path: Path
    backup: Path | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Promoted:
    """A promoted entity: its new gazetteer id, name, kind and aliases."""

    id: str
    name: str
    kind: str
    aliases: tuple[str, ...]
    written: Written


class _Overlay:
    """The overlay file as data: read (and checked) on opening, written after a check."""

    def __init__(self, settings: Settings) -> None:
        path = settings.overlay_path
        if path is None:
            raise ConfigError("settings.gazetteer_overlay is empty: there is no overlay file "
                              "to write (set it in feeds.yaml)")
        self.path = path
        folder = Path(settings.models_dir) if settings.models_dir else None
        self.base = folder / "gazetteer.yaml" if folder else None
        try:
            self.gazetteer = load_gazetteer(self.base, path)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (fix the overlay first; nothing was written)") from None
        data = yaml.safe_load(path.read_bytes()) if self.gazetteer.overlay else None
        data = data or {}
        self.entities: list[dict[str, Any]] = list(data.get("entities") or [])
        self.merge: dict[str, str] = dict(data.get("merge") or {})
        ban = data.get("ban") or {}
        self.ban_ids: list[str] = list(ban.get("ids") or [])
        self.ban_surfaces: list[str] = list(ban.get("surfaces") or [])

    def known(self, store: Store, entity_id: str) -> None:
        """Raise :class:`InputError` unless the gazetteer or the store knows ``entity_id``."""
        from .store.curation import entity_ids, stored_entity

        if entity_id in self.gazetteer.entries or stored_entity(store, entity_id):
            return
        ids = [*self.gazetteer.entries, *entity_ids(store)]
        close = difflib.get_close_matches(entity_id, ids, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else \
            " (see `spacewatch entities`)"
        raise InputError(f"unknown entity id {entity_id!r}{hint}")

    def text(self) -> str:
        data: dict[str, Any] = {}
        if self.entities:
            data["entities"] = self.entities
        if self.merge:
            data["merge"] = self.merge
        ban = {k: v for k, v in (("ids", self.ban_ids), ("surfaces", self.ban_surfaces)) if v}
        if ban:
            data["ban"] = ban
        body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100) \
            if data else ""
        return HEADER + body

    def write(self, notes: tuple[str, ...] = ()) -> Written:
        """Check the new contents as the analyzer will read them, then replace the file
        (temporary file, fsync, rename; the previous version kept as ``.bak``)."""
        text = self.text()
        try:
            load_gazetteer(self.base, self.path, overlay_bytes=text.encode())
        except ConfigError as exc:
            raise ConfigError(f"{exc} (nothing was written: the overlay is unchanged)") from None
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        backup = None
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            if self.path.exists():
                backup = self.path.with_name(self.path.name + ".bak")
                shutil.copy2(self.path, backup)
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"{self.path}: cannot write the gazetteer overlay: "
                              f"{exc.strerror or exc}") from None
        forget_analyzers()  # this process's next analysis reads the new overlay
        return Written(self.path, backup, notes)


def merge(settings: Settings, store: Store, source: str, target: str) -> Written:
    """Record that every mention of ``source`` is a mention of ``target``."""
    overlay = _Overlay(settings)
    if source == target:
        raise InputError(f"cannot merge {source!r} into itself")
    overlay.known(store, source)
    overlay.known(store, target)
    notes = []
    if overlay.merge.get(source) not in (None, target):
        notes.append(f"{source} was merged into {overlay.merge[source]}; now into {target}")
    overlay.merge[source] = target
    return overlay.write(tuple(notes))


def ban(settings: Settings, store: Store, value: str, *, surface: bool = False) -> Written:
    """Never link or store entity ``value`` (or, with ``surface``, any mention written so)."""
    overlay = _Overlay(settings)
    value = value.strip()
    if not value:
        raise InputError("nothing to ban: give an entity id (or a text with --surface)")
    if surface:
        if value not in overlay.ban_surfaces:
            overlay.ban_surfaces.append(value)
    else:
        overlay.known(store, value)
        if value not in overlay.ban_ids:
            overlay.ban_ids.append(value)
    return overlay.write()


def promote(settings: Settings, store: Store, entity_id: str, *, kind: str | None = None,
            name: str | None = None, aliases: tuple[str, ...] = (),
            new_id: str | None = None) -> Promoted:
    """Write a stored model entity into the overlay as a gazetteer entity: its stored name
    (or ``name``) and the texts it was found as become aliases (a person's bare surname and
    texts another entity already owns are left out, and said so), plus ``aliases``; its old
    id is merged into the new one, so every stored mention follows at the next analysis."""
    from .store.curation import stored_entity

    overlay = _Overlay(settings)
    stored = stored_entity(store, entity_id)
    if entity_id in overlay.gazetteer.entries:
        raise InputError(f"{entity_id!r} is already a gazetteer entity (edit "
                         f"{overlay.path.name} or the gazetteer to change it)")
    if stored is None:
        overlay.known(store, entity_id)  # raises, with suggestions
        raise InputError(f"unknown entity id {entity_id!r}")
    kind = (kind or (stored.kind if stored.kind in GAZETTEER_KINDS else "")).upper()
    if not kind:
        raise InputError(f"{entity_id!r} is a {stored.kind}, not a gazetteer kind: give "
                         f"--kind ({', '.join(GAZETTEER_KINDS)})")
    name = (name or stored.name).strip()
    new_id = new_id or slug(name)
    if new_id in overlay.gazetteer.entries:
        taken = overlay.gazetteer.entries[new_id].name
        raise InputError(f"id {new_id!r} is taken by the gazetteer's {taken!r} (merge into it: "
                         f"spacewatch entities merge {entity_id} {new_id}; or give --id)")
    chosen, notes = [name], []
    for text in (*stored.surfaces, *aliases):
        text = _POSSESSIVE.sub("", " ".join(text.split())).strip()
        explicit = text in aliases
        if not text or any(fold(text) == fold(a) for a in chosen):
            continue
        if not explicit:
            if kind in PEOPLE and " " not in text:
                notes.append(f"left out {text!r}: a person's bare surname is never an alias")
                continue
            owner = _owner(overlay.gazetteer, text)
            if owner is not None:
                notes.append(f"left out {text!r}: an alias of {owner!r}")
                continue
            if not text[:1].isupper():
                continue
        chosen.append(text)
    overlay.entities.append({"id": new_id, "name": name, "kind": kind, "aliases": chosen})
    if new_id != entity_id:
        overlay.merge[entity_id] = new_id
    written = overlay.write(tuple(notes))
    return Promoted(new_id, name, kind, tuple(chosen), written)


def _owner(gazetteer: Gazetteer, text: str) -> str | None:
    """The id of the entity that already has ``text`` as an alias."""
    hits = gazetteer.alias_index.get(fold(text)) or []
    return hits[0][0] if hits else None
