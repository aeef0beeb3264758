"""Read-only look-ups behind ``spacewatch entities merge/ban/promote``: what the store knows
of an entity (its name, kind and the texts it was found as), and which ids it knows.

Curation never writes here: the analyst's corrections go to the gazetteer overlay file, and
``reprocess`` re-links the stored mentions from it (the event log is never touched).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import Store

#: At most this many of an entity's surface texts are offered as aliases.
SURFACES_LIMIT = 20


@dataclass(frozen=True)
class StoredEntity:
    """An entity as stored, with its commonest surface texts (most mentioned first)."""

    id: str
    name: str
    kind: str
    origin: str
    mentions: int
    surfaces: tuple[str, ...]


def stored_entity(store: Store, entity_id: str) -> StoredEntity | None:
    """The stored entity ``entity_id`` (None when the store has never seen it)."""
    rows = store.rows("SELECT id, name, kind, origin FROM entities WHERE id = ?", [entity_id])
    if not rows:
        return None
    row = rows[0]
    surfaces = store.rows(
        "SELECT surface, count(*) AS n FROM mentions WHERE entity_id = ? GROUP BY surface "
        f"ORDER BY n DESC, surface LIMIT {SURFACES_LIMIT}", [entity_id])
    total = store.rows("SELECT count(*) AS n FROM mentions WHERE entity_id = ?", [entity_id])
    return StoredEntity(id=str(row["id"]), name=str(row["name"]), kind=str(row["kind"]),
                        origin=str(row["origin"]), mentions=int(total[0]["n"]),
                        surfaces=tuple(str(r["surface"]) for r in surfaces))


def entity_ids(store: Store) -> list[str]:
    """Every stored entity id (for "did you mean" suggestions)."""
    return [str(r["id"]) for r in store.rows("SELECT id FROM entities ORDER BY id")]
