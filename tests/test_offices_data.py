"""models/offices.yaml (issue 13.6, data only until wired in): each office's phrasings per
language and its holders by date, in agreement with the holders' gazetteer roles."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.gazetteer import load_gazetteer
from pipeline.records import PEOPLE

OFFICES = Path(__file__).resolve().parents[1] / "models" / "offices.yaml"
OFFICE_KEYS = {"id", "org", "title", "phrasings", "contextual", "context", "holders"}
HOLDER_KEYS = {"id", "name", "start", "end", "acting"}
LANGS = {"en", "ru", "zh", "de", "fr", "pt", "hi"}


@pytest.fixture(scope="module")
def offices() -> list[dict]:
    data = yaml.safe_load(OFFICES.read_text(encoding="utf-8"))
    assert data["version"] == 1
    return data["offices"]


def test_every_office_names_a_gazetteer_org_and_uses_only_known_keys(offices) -> None:
    gaz = load_gazetteer()
    assert len({o["id"] for o in offices}) == len(offices)
    for office in offices:
        assert set(office) <= OFFICE_KEYS, office["id"]
        assert office["org"] in gaz.entries, office["id"]
        assert set(office["phrasings"]) <= LANGS and {"en", "ru"} <= set(office["phrasings"])
        assert set(office.get("contextual") or {}) <= LANGS
        assert bool(office.get("contextual")) == bool(office.get("context")), office["id"]


def test_the_seed_story_offices_have_phrasings_in_every_language_of_the_beat(offices) -> None:
    by_id = {o["id"]: o for o in offices}
    for office_id in ("roscosmos-head", "nasa-administrator", "russian-mfa-spokesperson"):
        assert set(by_id[office_id]["phrasings"]) == LANGS, office_id
    assert "глава Роскосмоса" in by_id["roscosmos-head"]["phrasings"]["ru"]
    assert "Roscosmos chief" in by_id["roscosmos-head"]["phrasings"]["en"]


def test_holders_follow_one_another_without_overlap(offices) -> None:
    for office in offices:
        holders = office["holders"]
        for earlier, later in zip(holders, holders[1:], strict=False):
            assert earlier["end"] is not None and earlier["end"] <= later["start"], office["id"]
        assert all(h["end"] is not None for h in holders[:-1])


def test_a_holder_in_the_gazetteer_has_a_role_at_that_org_with_the_same_dates(offices) -> None:
    gaz = load_gazetteer()
    for office in offices:
        for holder in office["holders"]:
            assert set(holder) <= HOLDER_KEYS and ("id" in holder) != ("name" in holder)
            if "id" not in holder:
                continue
            entry = gaz.entries[holder["id"]]
            assert entry.kind in PEOPLE
            dates = {(r.start, r.end) for r in entry.roles if r.org == office["org"]}
            assert (holder["start"], holder["end"]) in dates, (office["id"], holder, dates)
