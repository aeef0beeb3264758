"""The gazetteer in ``models/``: canonical entities as data, loaded and checked at start-up.

Its hash is part of the NLP version recorded on every processed article, so editing it makes
exactly those articles stale for ``spacewatch reprocess``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .records import GAZETTEER_KINDS, PEOPLE, Mention, fold
from .resources import default_models_dir

#: An alias "<company or agency> <thing>" is matched as two mentions ("SpaceX Crew Dragon").
SPLIT_KINDS = ("COMPANY", "AGENCY")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class Role:
    """A title a person held, with dates where known."""

    title: str
    org: str | None = None
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class Entry:
    """One canonical entity."""

    id: str
    name: str
    kind: str
    wikidata: str | None
    aliases: tuple[str, ...]
    weak_aliases: tuple[str, ...] = ()
    context: frozenset[str] = frozenset()
    roles: tuple[Role, ...] = ()
    #: Longer phrases that veto an alias of this entity inside them where aliases are
    #: matched on characters (Han text: 南美国家 "South American countries" is not 美国).
    blockers: tuple[str, ...] = ()

    @property
    def surname(self) -> str | None:
        """The Latin-script surname of a person (last word of the name), else None."""
        if self.kind not in PEOPLE:
            return None
        last = self.name.split()[-1]
        return None if _CYRILLIC.search(last) else last

    def current_role(self) -> Role | None:
        """The role without an end date, or the latest one."""
        open_roles = [r for r in self.roles if not r.end]
        if open_roles:
            return open_roles[-1]
        return self.roles[-1] if self.roles else None


@dataclass
class Gazetteer:
    """All entries plus the lookup tables the linker needs."""

    entries: dict[str, Entry]
    version: str
    path: Path | None = None
    #: folded alias -> (entry id, is_weak, exact surface or None when case-insensitive)
    alias_index: dict[str, list[tuple[str, bool, str | None]]] = field(default_factory=dict)
    #: The analyst's overlay (``settings.gazetteer_overlay``) when one was read.
    overlay: Path | None = None
    #: Merged ids: every mention of the key is a mention of the value (chains resolved).
    merges: dict[str, str] = field(default_factory=dict)
    #: Entity ids and folded surface texts that are never linked or stored.
    banned_ids: frozenset[str] = frozenset()
    banned_surfaces: frozenset[str] = frozenset()

    def patterns(self) -> list[dict[str, Any]]:
        """Phrase patterns for spaCy's span ruler (matched on LOWER, checked afterwards)."""
        out = []
        for entry in self.entries.values():
            for alias in (*entry.aliases, *entry.weak_aliases):
                for variant in _variants(alias):
                    out.append({"label": entry.kind, "pattern": variant, "id": entry.id})
        return out

    def accepts(self, entry_id: str, surface: str) -> tuple[bool, bool]:
        """Whether ``surface`` is a valid match for ``entry_id`` and whether it is weak.

        Single-token aliases with a capital letter must match case and all; others match
        case-insensitively.
        """
        for eid, weak, exact in self.alias_index.get(fold(surface), []):
            if eid != entry_id:
                continue
            if exact is not None and _norm(surface) != exact:
                continue
            return True, weak
        return False, False

    def curate(self, mentions: list[Mention]) -> list[Mention]:
        """The mentions with the overlay's corrections applied: a banned id or text is
        dropped, a merged id becomes the id it was merged into (with that entity's name and
        kind when the gazetteer has it; a model entity keeps its stored name)."""
        if not (self.merges or self.banned_ids or self.banned_surfaces):
            return mentions
        names = {m.entity_id: m for m in mentions}
        out = []
        for m in mentions:
            if m.entity_id in self.banned_ids or surface_key(m.surface) in self.banned_surfaces:
                continue
            into = self.merges.get(m.entity_id)
            if into is not None:
                entry = self.entries.get(into)
                if entry is not None:
                    m = replace(m, entity_id=into, name=entry.name, kind=entry.kind,
                                origin="gazetteer", wikidata=entry.wikidata,
                                role=m.role if entry.kind in PEOPLE else None)
                else:
                    known = names.get(into)
                    m = replace(m, entity_id=into, origin="model",
                                name=known.name if known else m.name,
                                kind=known.kind if known else m.kind)
            out.append(m)
        return out


def _variants(alias: str) -> set[str]:
    """An alias as written plus its hyphen/space twins ("seat swap" ~ "seat-swap")."""
    out = {alias}
    if "-" in alias and not _case_sensitive(alias):
        out.add(alias.replace("-", " "))
    elif " " in alias and len(alias.split()) == 2 and alias.islower():
        out.add(alias.replace(" ", "-"))
    return out


def _norm(text: str) -> str:
    return _WS.sub(" ", text.replace("\u2019", "'").replace("\u2018", "'")).strip()


def _case_sensitive(alias: str) -> bool:
    return " " not in alias.strip() and "-" not in alias and any(c.isupper() for c in alias)


def yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    """``gazetteer.yaml:12:5: not valid YAML: mapping values are not allowed here``: one
    line for a YAML error in a models file, where yaml's own message takes five."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    return f"{where}: not valid YAML: {problem}"


def read_model_yaml(path: Path, what: str) -> tuple[dict[str, Any], bytes]:
    """A models file's top-level mapping and its bytes (for the version hash). Every
    failure is one :class:`ConfigError` line naming the file: unreadable, not YAML (with
    line and column), or not a mapping. An empty file is an empty mapping."""
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_problem(path, exc)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {what}: expected a mapping at the top level")
    return data, raw


def load_gazetteer(path: str | Path | None = None, overlay: Path | None = None, *,
                   overlay_bytes: bytes | None = None) -> Gazetteer:
    """Load and validate ``models/gazetteer.yaml`` (or ``path``), plus the analyst's
    ``overlay`` file when it exists (``overlay_bytes``: its text, checked before it is
    written). The overlay's entities join the gazetteer's (one with a gazetteer id replaces
    that entity) under the same rules; its hash joins the version."""
    path = Path(path) if path else default_models_dir() / "gazetteer.yaml"
    try:
        raw_bytes = path.read_bytes()
        data = yaml.safe_load(raw_bytes)
    except FileNotFoundError:
        raise ConfigError(f"{path}: gazetteer not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_problem(path, exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("entities"), list):
        raise ConfigError(f"{path}: expected a mapping with an 'entities:' list")
    entries: dict[str, Entry] = {}
    for i, raw in enumerate(data["entities"], start=1):
        entry = _entry(raw, f"{path}: entity #{i}")
        if entry.id in entries:
            raise ConfigError(f"{path}: duplicate entity id {entry.id!r}")
        entries[entry.id] = entry
    _check_aliases(entries, path)
    if overlay_bytes is None and overlay is not None:
        overlay_bytes = _read_overlay(overlay)
    curation = _Curation()
    if overlay is not None and overlay_bytes is not None:
        curation = _overlay(overlay, overlay_bytes, entries)
        raw_bytes += b"\0overlay\0" + overlay_bytes
        if curation.entities:
            _check_aliases(entries, overlay)
    entries = _split_compounds(entries)
    gaz = Gazetteer(entries=entries, version=hashlib.sha256(raw_bytes).hexdigest()[:12],
                    path=path, overlay=overlay if overlay_bytes is not None else None,
                    merges=curation.merges, banned_ids=curation.banned_ids,
                    banned_surfaces=curation.banned_surfaces)
    for entry in entries.values():
        for weak, aliases in ((False, entry.aliases), (True, entry.weak_aliases)):
            for alias in aliases:
                exact = _norm(alias) if _case_sensitive(alias) else None
                for variant in _variants(alias):
                    gaz.alias_index.setdefault(fold(variant), []).append(
                        (entry.id, weak, exact))
    return gaz


#: The sections of an overlay file.
OVERLAY_KEYS = ("entities", "merge", "ban")
BAN_KEYS = ("ids", "surfaces")


@dataclass
class _Curation:
    entities: tuple[str, ...] = ()
    merges: dict[str, str] = field(default_factory=dict)
    banned_ids: frozenset[str] = frozenset()
    banned_surfaces: frozenset[str] = frozenset()


def _read_overlay(path: Path) -> bytes | None:
    """The overlay's bytes, or None when there is no such file (no overlay)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the gazetteer overlay: "
                          f"{exc.strerror or exc}") from None


def _overlay(path: Path, raw_bytes: bytes, entries: dict[str, Entry]) -> _Curation:
    """Check the overlay and add its entities to ``entries`` (in place)."""
    try:
        data = yaml.safe_load(raw_bytes)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_problem(path, exc)) from None
    if data is None:
        return _Curation()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with {', '.join(OVERLAY_KEYS)}")
    unknown = sorted(str(k) for k in set(data) - set(OVERLAY_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown section {unknown[0]!r} "
                          f"(allowed: {', '.join(OVERLAY_KEYS)})")
    raw_entities = data.get("entities") or []
    if not isinstance(raw_entities, list):
        raise ConfigError(f"{path}: 'entities:' must be a list of entities")
    added: list[str] = []
    for i, raw in enumerate(raw_entities, start=1):
        entry = _entry(raw, f"{path}: entity #{i}")
        if entry.id in added:
            raise ConfigError(f"{path}: duplicate entity id {entry.id!r}")
        added.append(entry.id)
        entries[entry.id] = entry
    ban = data.get("ban") or {}
    if not isinstance(ban, dict) or set(ban) - set(BAN_KEYS):
        raise ConfigError(f"{path}: 'ban:' must be a mapping with {' and/or '.join(BAN_KEYS)}"
                          " (lists of entity ids and of texts)")
    lists: dict[str, list[str]] = {}
    for key in BAN_KEYS:
        values = ban.get(key) or []
        if not isinstance(values, list) or not all(isinstance(v, str) and v.strip()
                                                   for v in values):
            raise ConfigError(f"{path}: ban.{key} must be a list of non-empty texts")
        lists[key] = [v.strip() for v in values]
    banned = frozenset(lists["ids"])
    merge = data.get("merge") or {}
    if not isinstance(merge, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip()
            for k, v in merge.items()):
        raise ConfigError(f"{path}: 'merge:' must map entity ids to entity ids "
                          "(from-id: into-id)")
    merges: dict[str, str] = {}
    for source in merge:
        target, seen = merge[source], [source]
        while target in merge:  # a -> b -> c: a goes to c
            if target in seen:
                raise ConfigError(f"{path}: merge: {' -> '.join([*seen, target])} is a cycle")
            seen.append(target)
            target = merge[target]
        if target == source:
            raise ConfigError(f"{path}: merge: {source!r} cannot be merged into itself")
        if source in banned or target in banned:
            which = source if source in banned else target
            raise ConfigError(f"{path}: merge: {which!r} is also banned (ban.ids); "
                              "a banned id is never linked, so it cannot be merged")
        if source in added:
            raise ConfigError(f"{path}: merge: {source!r} is one of this file's entities; "
                              "remove it from 'entities:' or from 'merge:'")
        merges[source] = target
    return _Curation(entities=tuple(added), merges=merges, banned_ids=banned,
                     banned_surfaces=frozenset(surface_key(s) for s in lists["surfaces"]))


def surface_key(text: str) -> str:
    """How a banned text is compared with a mention's surface: folded, without a
    possessive ("Breaking News'", "Breaking News's")."""
    text = fold(text).strip(" .,;:!?\"'()[]\u201c\u201d")
    return re.sub(r"'s?$", "", text).strip()


def _check_aliases(entries: dict[str, Entry], path: Path) -> None:
    """An alias names one entity: two entities sharing one (as linking compares them:
    folded, hyphen/space twins included) would silently move mentions from one to the
    other."""
    owner: dict[str, tuple[str, str]] = {}
    for entry in entries.values():
        for alias in (*entry.aliases, *entry.weak_aliases):
            for variant in _variants(alias):
                key = fold(variant)
                first = owner.setdefault(key, (entry.id, alias))
                if first[0] != entry.id:
                    raise ConfigError(
                        f"{path}: alias {alias!r} of {entry.id!r} is also an alias of "
                        f"{first[0]!r} ({first[1]!r}); an alias must name one entity")


def _split_compounds(entries: dict[str, Entry]) -> dict[str, Entry]:
    """Drop aliases that are another entity's alias glued to one of this entity's.

    "SpaceX Crew Dragon" is SpaceX + Crew Dragon: matching the parts separately keeps the
    mention of SpaceX instead of swallowing it.
    """
    owner: dict[str, set[str]] = {}
    for entry in entries.values():
        for alias in (*entry.aliases, *entry.weak_aliases):
            owner.setdefault(fold(alias), set()).add(entry.id)
    out = {}
    for eid, entry in entries.items():
        def compound(alias: str, eid: str = eid) -> bool:
            words = alias.split()
            for cut in range(1, len(words)):
                left, right = fold(" ".join(words[:cut])), fold(" ".join(words[cut:]))
                mine = {left, right} & {k for k, ids in owner.items() if eid in ids}
                other = {left, right} - mine
                if mine and other and all(
                        any(entries[i].kind in SPLIT_KINDS for i in owner.get(o, set()) - {eid})
                        for o in other):
                    return True
            return False

        kept = tuple(a for a in entry.aliases if " " not in a or not compound(a))
        out[eid] = Entry(**{**entry.__dict__, "aliases": kept or entry.aliases})
    return out


#: The keys an entity may have (anything else is a typo, such as ``alias:``).
ENTRY_KEYS = ("id", "name", "kind", "wikidata", "aliases", "weak_aliases", "context", "roles",
              "predecessor", "blockers")
ROLE_KEYS = ("title", "org", "start", "end")


def _entry(raw: Any, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping")
    try:
        eid, name, kind = str(raw["id"]), str(raw["name"]), str(raw["kind"])
    except KeyError as exc:
        raise ConfigError(f"{where}: missing {exc.args[0]!r}") from None
    unknown = sorted(str(k) for k in set(raw) - set(ENTRY_KEYS))
    if unknown:
        raise ConfigError(f"{where} ({eid}): unknown key {unknown[0]!r} "
                          f"(allowed: {', '.join(ENTRY_KEYS)})")
    for role in raw.get("roles") or []:
        bad = sorted(str(k) for k in set(role) - set(ROLE_KEYS)) if isinstance(role, dict) \
            else []
        if bad:
            raise ConfigError(f"{where} ({eid}): unknown role key {bad[0]!r} "
                              f"(allowed: {', '.join(ROLE_KEYS)})")
    if kind not in GAZETTEER_KINDS:
        raise ConfigError(f"{where} ({eid}): kind {kind!r} is not one of "
                          f"{', '.join(GAZETTEER_KINDS)}")
    aliases = tuple(str(a) for a in raw.get("aliases") or [])
    weak = tuple(str(a) for a in raw.get("weak_aliases") or [])
    if name not in aliases and name not in weak:
        aliases = (name, *aliases)
    if kind in PEOPLE:
        # "Foreign Minister Sergey Lavrov" is a title plus a name: the name alias matches,
        # and the title becomes the mention's role (and NASA in "NASA Administrator X"
        # stays a mention of NASA). Only a full name (two words or more) marks what precedes
        # it as a title: "Дмитрий Баканов" is a full name ending in the surname "Баканов",
        # and dropping it would leave the given name to the role.
        names = (*aliases, *weak)
        aliases = tuple(a for a in aliases if not any(
            a != b and " " in b.strip() and a.endswith(" " + b) for b in names))
    roles = tuple(
        Role(title=str(r.get("title", "")), org=r.get("org"),
             start=str(r["start"]) if r.get("start") else None,
             end=str(r["end"]) if r.get("end") else None)
        for r in raw.get("roles") or [] if isinstance(r, dict))
    blockers = tuple(str(b) for b in raw.get("blockers") or [])
    for blocker in blockers:  # a blocker guards one of the entity's own aliases
        if not any(a.casefold() in blocker.casefold() and a.casefold() != blocker.casefold()
                   for a in (*aliases, *weak)):
            raise ConfigError(f"{where} ({eid}): blocker {blocker!r} holds none of its aliases")
    return Entry(id=eid, name=name, kind=kind, wikidata=raw.get("wikidata"), aliases=aliases,
                 weak_aliases=weak,
                 context=frozenset(fold(str(c)) for c in raw.get("context") or []), roles=roles,
                 blockers=blockers)
