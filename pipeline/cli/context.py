"""What every command shares: the consoles, the global options (:class:`Context`) and
the small checks of user input (dates, seeds)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.text import Text

from ..config import Config, Settings, load_config
from ..errors import SpaceWatchError, StoreError
from ..gazetteer import load_gazetteer
from ..seeds import load_seeds
from ..store import Store
from ..store.reports import check_not_future, day_bounds

# markup=False: nothing printed is ever read as console markup, so a stored title such as
# "[caption id=1]" prints as written. Program text that wants a style says so with
# rich.text.Text (Text.assemble(("error:", "bold red"), " ...")).
out = Console(highlight=False, soft_wrap=True, markup=False)


err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

#: SQLite's largest INTEGER: a number beyond it names no row and cannot be bound to a query.
SQLITE_MAX_INT = 2**63 - 1
#: A stored row's id (a story, an article): a number SQLite cannot hold is a usage error.
ROW_ID = click.IntRange(min=0, max=SQLITE_MAX_INT)


class Limit(click.IntRange):
    """``--limit N``: at least 1; more rows than SQLite can count means all of them."""

    def __init__(self) -> None:
        super().__init__(min=1)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        return min(int(super().convert(value, param, ctx)), SQLITE_MAX_INT)


def utf8_output() -> None:
    """Print non-ASCII text as UTF-8 even under an ASCII (C/POSIX) locale; a character
    the terminal's encoding cannot show becomes '?' instead of a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None or encoding.startswith("utf"):
            continue
        if encoding in ("ascii", "ansi_x3.41968", "usascii", ""):
            reconfigure(encoding="utf-8", errors="replace")
        else:
            reconfigure(errors="replace")


class Context:
    """Global options, resolved once at the edge and passed in."""

    def __init__(self, db: str, config: str, verbose: bool) -> None:
        self.db_path = Path(db)
        self.config_path = Path(config)
        self.verbose = verbose
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def settings(self) -> Settings:
        """The configured settings, or the defaults when there is no feeds.yaml."""
        return self.pipeline_config().settings

    def pipeline_config(self) -> Config:
        """The configuration, or the defaults with no feeds when there is no feeds.yaml
        (``analyze``, ``import`` and friends work without one)."""
        if self.config_path.exists():
            return self.config
        return Config(feeds=(), settings=Settings())

    def store(self) -> Store:
        """Open (creating or migrating) the database; says so on stderr when its folder had
        to be created."""
        store = Store(self.db_path)
        if store.created_folder is not None:
            err.print(f"created folder {store.created_folder} for the database")
        return store

    def existing_store(self) -> Store:
        """Open a database that must already exist (``explain``, ``story merge``): a command
        that only makes sense on stored articles never creates an empty file."""
        if not self.db_path.is_file():
            raise StoreError(f"{self.db_path}: no such database (run 'spacewatch fetch' or "
                             "'demo' first)")
        return self.store()

    def reader(self) -> Store:
        """Open the database read-only (``status``, ``digest``): no migration, no file
        created, so it works on a read-only file system; an older schema is an error."""
        return Store(self.db_path, readonly=True)


pass_ctx = click.make_pass_decorator(Context)


def warn_seeds(config: Config, *, matching: bool = True) -> None:
    """Name each seed file that is skipped, with the reason (and, before matching, say so
    when no seed loaded at all): once per command, on stderr; the command goes on."""
    # Seed boosts may name the entities of settings.models_dir's gazetteer and its overlay.
    gazetteer = load_gazetteer(config.settings.models_folder / "gazetteer.yaml",
                               config.settings.overlay_path)
    for line in load_seeds(config.seeds_folder, gazetteer.entries).warnings(matching=matching):
        err.print(Text.assemble(("warning:", "yellow"), f" {line}"))


def check_date(value: str) -> None:

    try:
        date.fromisoformat(value)
    except ValueError:
        raise SpaceWatchError(f"{value!r} is not a date (use YYYY-MM-DD)") from None


def day_start(value: str, settings: Settings) -> str:
    """The start of day ``value`` (YYYY-MM-DD) in ``settings.digest_timezone`` as the UTC ISO
    string times are stored in; a day after today is refused."""


    check_date(value)
    day, tz = date.fromisoformat(value), ZoneInfo(settings.digest_timezone)
    check_not_future(day, tz)
    return day_bounds(day, tz)[0]

