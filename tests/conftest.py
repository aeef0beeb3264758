"""Shared fixtures: a local HTTP server, a database under tmp_path, configs built in code."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main
from pipeline.config import Config, Feed, Settings
from pipeline.ingest import PassReport, fetch_feeds, register_feeds
from pipeline.store import Store

from .httpserver import LocalServer

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "test.db") as st:
        yield st


def make_config(feeds: dict[str, str], **settings: object) -> Config:
    """A Config with the named feeds (name -> url) and fast test settings."""
    base = dict(timeout_connect=2.0, timeout_read=2.0, timeout_total=5.0, backoff_base=60.0,
                concurrency=8)
    base.update(settings)
    return Config(
        feeds=tuple(Feed(name=name, url=url) for name, url in feeds.items()),
        settings=dataclasses.replace(Settings(), **base),
    )


def fetch_only(store: Store, config: Config, **options: Any) -> PassReport:
    """A pass without the analysis stages: register the feeds, fetch them once."""
    register_feeds(store, config)
    return fetch_feeds(store, config, **options)


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test when it is absent (a user's machine)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is only on the developers' machines)")
    return path


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo database (``spacewatch demo``), built once per test session: the README's
    examples and the Datasette pages are checked against it. Tests only read it."""
    from click.testing import CliRunner

    from pipeline.cli import cli

    tmp = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(cli, ["--config", str(tmp / "none.yaml"), "demo",
                                      "--out", str(tmp / "demo")])
    assert result.exit_code == 0, result.output
    return tmp / "demo" / "demo.db"


@dataclass
class Raw:
    """Every row of the tables the README examples and Datasette pages read, as plain
    dictionaries (checked against them by a recount in Python)."""

    tables: dict[str, list[dict[str, Any]]]

    def __getitem__(self, name: str) -> list[dict[str, Any]]:
        return self.tables[name]

    def by_id(self, name: str) -> dict[Any, dict[str, Any]]:
        return {r["id"]: r for r in self.tables[name]}


@pytest.fixture(scope="session")
def raw(demo_db: Path) -> Raw:
    conn = sqlite3.connect(demo_db)
    conn.row_factory = sqlite3.Row
    try:
        return Raw({name: [dict(r) for r in conn.execute(f"SELECT * FROM {name}")]
                    for name in ("feeds", "articles", "article_sources", "entities",
                                 "mentions", "matches", "seeds")})
    finally:
        conn.close()



#: ``run(folder, *args)`` -> (exit code, stdout, stderr)
Runner = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Runner:
    """``run(folder, *args)``: the console script on feeds.yaml and sw.db in ``folder``, as a
    user runs it (errors become one line and an exit code): (exit code, stdout, stderr)."""

    def invoke(folder: Path, *args: str) -> tuple[int, str, str]:
        argv = ["spacewatch", "--db", str(folder / "sw.db"), "--config",
                str(folder / "feeds.yaml"), *args]
        capsys.readouterr()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("sys.argv", argv)
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke
