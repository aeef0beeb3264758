"""The SQLite store: the only package that writes SQL.

One file a user can copy, open in Datasette and query by hand. :class:`Store` is the single
entry point; its methods live with the tables they touch:

- ``base``: opening (WAL, migrations, read-only and damaged files), transactions, ``meta``;
- ``feeds``: the configured feeds, their state and every fetch attempt;
- ``articles``: articles from feeds and imports, and their pages;
- ``analysis``: mentions and entities, seeds, and the append-only event log;
- ``stories``: stories, their articles and the key index an article finds them by;
- ``deliveries`` and ``reports`` (digest deliveries; the digest's read-only queries) take a
  store as their first argument; ``schema`` holds the named migrations.

Every write is one ``BEGIN IMMEDIATE`` transaction owned by the method that makes it, so a
batch lands whole or not at all.
"""

from __future__ import annotations

from .analysis import AnalysisTables, StoredMatch, TopEvent
from .articles import ArticleTables, SaveResult
from .base import damaged_db_message, is_damaged, open_readonly, readonly_uri
from .feeds import FeedTables
from .stories import StoryTables

__all__ = ["SaveResult", "Store", "StoredMatch", "TopEvent", "damaged_db_message", "is_damaged",
           "open_readonly", "readonly_uri"]


class Store(FeedTables, ArticleTables, AnalysisTables, StoryTables):
    """A connection to the SpaceWatch database. Use as a context manager."""
