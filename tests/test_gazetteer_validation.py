"""The gazetteer is checked at start-up: an alias names one entity, a misspelt key is an
error that names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.gazetteer import load_gazetteer


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "gazetteer.yaml"
    path.write_text("version: 1\nentities:\n" + body, encoding="utf-8")
    return path


def test_an_alias_used_by_two_entities_is_an_error_naming_both_and_the_alias(
        tmp_path: Path) -> None:
    path = write(tmp_path,
                 "  - {id: dmitry-bakanov, name: Dmitry Bakanov, kind: OFFICIAL}\n"
                 "  - {id: new-official, name: New Official, kind: OFFICIAL,\n"
                 "     aliases: [dmitry  BAKANOV]}\n")
    with pytest.raises(ConfigError) as caught:
        load_gazetteer(path)
    message = str(caught.value)
    assert "'dmitry-bakanov'" in message and "'new-official'" in message
    assert "dmitry  BAKANOV" in message and "\n" not in message


def test_hyphen_and_space_twins_of_one_alias_in_two_entities_are_an_error(
        tmp_path: Path) -> None:
    path = write(tmp_path,
                 "  - {id: seat-swap, name: seat swap, kind: PROGRAM}\n"
                 "  - {id: other, name: Other, kind: PROGRAM, aliases: [seat-swap]}\n")
    with pytest.raises(ConfigError, match="'seat-swap'.*'other'|'other'.*'seat-swap'"):
        load_gazetteer(path)


def test_an_unknown_entity_key_is_an_error_naming_key_entity_and_allowed_keys(
        tmp_path: Path) -> None:
    path = write(tmp_path, "  - {id: nasa, name: NASA, kind: AGENCY, alias: [N.A.S.A.]}\n")
    with pytest.raises(ConfigError) as caught:
        load_gazetteer(path)
    message = str(caught.value)
    assert "'alias'" in message and "nasa" in message and "aliases, weak_aliases" in message


def test_an_unknown_role_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {id: x-y, name: X Y, kind: OFFICIAL,\n"
                           "     roles: [{titel: head, org: roscosmos}]}\n")
    with pytest.raises(ConfigError, match="'titel'"):
        load_gazetteer(path)


def test_the_same_alias_twice_in_one_entity_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {id: nasa, name: NASA, kind: AGENCY, aliases: [NASA, НАСА]}\n")
    assert set(load_gazetteer(path).entries) == {"nasa"}
