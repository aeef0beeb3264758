"""SpaceWatch's own exception types. Only ``cli`` turns them into messages and exit codes."""

from __future__ import annotations


class SpaceWatchError(Exception):
    """Base class for every error SpaceWatch raises on purpose."""


class ConfigError(SpaceWatchError):
    """feeds.yaml (or another configuration input) is missing or invalid."""


class StoreError(SpaceWatchError):
    """The database could not be opened, migrated or written."""


class QueryError(SpaceWatchError):
    """An ad-hoc SQL query was rejected or failed."""


class InputError(SpaceWatchError):
    """A user-supplied input file or value is invalid."""


class LockedError(SpaceWatchError):
    """Another daemon already holds the database lock (the message names its pid)."""


class SeedError(ConfigError):
    """One seed file is invalid: ``path`` and the ``reason``, kept apart so that a folder
    of seeds can skip the file and report it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class QueryTimeLimit(QueryError):
    """A read-only query ran past its time limit and was stopped."""


class QueryCancelled(QueryError):
    """A read-only query was stopped by Ctrl-C (the CLI exits 130)."""


class ServeError(SpaceWatchError):
    """``spacewatch serve`` could not start or keep Datasette running."""
