"""``spacewatch serve``: Datasette as a child process that never outlives SpaceWatch.

Why a child and not Datasette in-process: Datasette's own command line is its supported entry
point (start-up hooks, settings and metadata checks change between versions), and a child
keeps SpaceWatch's signal handling simple. Why it cannot be orphaned:

- SIGTERM, SIGINT or SIGHUP to ``spacewatch serve`` terminate the child and wait for it
  (SIGKILL after a grace period);
- on Linux the child asks the kernel for ``PR_SET_PDEATHSIG = SIGTERM`` before it starts
  Datasette, so even a SIGKILL of ``spacewatch serve`` (which no handler sees) stops it.

The port is tried before anything is printed, so a taken port is one clear error.

What a reader sees is set up here too (:func:`write_datasette_files`): metadata that hides
the internal tables, shows ``event_log`` newest first with facets, and cans the README's
questions plus "today's matches" in the digest's time zone; and two small template
overrides (``templates/datasette-*.html``): the SQL box opens on the event log instead of
``select * from`` the first table, and each row of ``entities`` links to its articles.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .errors import ServeError
from .query import EXAMPLES

HOST = "127.0.0.1"
#: How long the child may take to stop after SIGTERM before it gets SIGKILL.
STOP_GRACE_S = 10.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1


def check_port(port: int, host: str = HOST) -> None:
    """Raise :class:`ServeError` unless ``host:port`` can be bound now (as Datasette's
    server binds it: with SO_REUSEADDR, so a closed connection's TIME_WAIT is no obstacle)."""
    problem = _bind_problem(port, host)
    if problem is None:
        return
    if problem == errno.EADDRINUSE:
        free = next((p for p in range(port + 1, min(port + 50, 65536))
                     if _bind_problem(p, host) is None), None)
        hint = f" (try --port {free})" if free else " (try another --port)"
        raise ServeError(f"port {port} on {host} is in use{hint}")
    raise ServeError(f"port {port} on {host} cannot be used: {os.strerror(problem)} "
                     "(try --port 8001)")


def _bind_problem(port: int, host: str) -> int | None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno or errno.EADDRINUSE
    return None


def datasette_command(db_path: Path, port: int, metadata: Path, *, immutable: bool,
                      time_limit_ms: int, template_dir: Path | None = None) -> list[str]:
    """The Datasette command line for one database, read-only, on 127.0.0.1.

    ``immutable`` (for a database on a read-only file system) opens it with
    ``immutable=1``, as :func:`pipeline.store.readonly_uri` decided.
    """
    return [sys.executable, "-m", "datasette", "serve",
            *(["--immutable", str(db_path)] if immutable else [str(db_path)]),
            "--host", HOST, "--port", str(port), "--metadata", str(metadata),
            *(["--template-dir", str(template_dir)] if template_dir else []),
            "--setting", "sql_time_limit_ms", str(time_limit_ms)]


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel send the child SIGTERM when its parent dies
    (Linux only; elsewhere None and the signal handlers are the only guard)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody to serve
            os._exit(1)

    return preexec


@dataclass
class ChildExit:
    """How the child ended: its exit code, and the signal that asked us to stop (if any)."""

    returncode: int
    stopped_by: int | None


def run_child(cmd: Sequence[str]) -> ChildExit:
    """Run ``cmd`` until it exits or this process is asked to stop; never leave it behind.

    The stop signals are handled only while the child runs; the previous handlers come back
    afterwards.
    """
    stop: list[int] = []
    child: list[subprocess.Popen[bytes]] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)
        if child and child[0].poll() is None:
            child[0].terminate()

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        # preexec_fn is safe here: the CLI runs no other thread while it forks.
        proc = subprocess.Popen(list(cmd), preexec_fn=_die_with_parent())  # noqa: PLW1509
        child.append(proc)
        if stop:  # asked to stop while the child was being started
            proc.terminate()
        deadline: float | None = None
        while True:
            try:
                code = proc.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if stop and deadline is None:
                    deadline = time.monotonic() + STOP_GRACE_S
                if deadline is not None and time.monotonic() > deadline:
                    proc.kill()
    finally:
        for proc in child:  # an exception of our own: still never leave the child behind
            if proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return ChildExit(code, stop[0] if stop else None)


# -- what a reader sees ------------------------------------------------------------------

TEMPLATES = Path(__file__).parent / "templates"
#: Datasette's template name -> the file under ``templates/`` that overrides it.
TEMPLATE_OVERRIDES = {"database.html": "datasette-database.html",
                      "_table.html": "datasette-table.html"}
_ISO = "%Y-%m-%dT%H:%M:%SZ"
#: How far ahead the zone's UTC offsets are written into "today's matches" (a ``serve``
#: running longer keeps the last offset).
ZONE_YEARS = 5
_FIRST, _LAST = "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"


def _offset_s(tz: ZoneInfo, epoch_s: int) -> int:
    offset = datetime.fromtimestamp(epoch_s, tz).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def zone_offsets(zone: str, start: datetime, end: datetime) -> list[tuple[str, str, int]]:
    """``(since, until, offset in seconds)`` of ``zone`` from ``start`` to ``end``, each
    change found to the second; the first row reaches back to year 1 and the last on to
    year 9999, so every moment falls in exactly one row."""
    tz = ZoneInfo(zone)
    rows: list[tuple[str, str, int]] = []
    since, t, stop = _FIRST, int(start.timestamp()), int(end.timestamp())
    offset = _offset_s(tz, t)
    while t < stop:
        step = t + 3600
        if _offset_s(tz, step) != offset:
            low, high = t, step  # the change is in (low, high]
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if _offset_s(tz, middle) == offset else (low, middle)
            change = datetime.fromtimestamp(high, UTC).strftime(_ISO)
            rows.append((since, change, offset))
            since, offset = change, _offset_s(tz, high)
        t = step
    rows.append((since, _LAST, offset))
    return rows


def today_bounds_sql(zone: str, now: datetime, *, clock: str = "'now'") -> str:
    """A ``WITH`` clause whose ``today(day)`` is the local date in ``zone`` when the query
    runs, and whose ``bounds(day, start)`` holds the UTC instants at which that day and the
    next begin (the digest's half-open day, :func:`pipeline.store.reports.day_bounds`).

    The zone's offsets from two days before ``now`` on are written in as a table (SQLite
    knows no time zones), so the day is right across midnights and clock changes for as long
    as ``serve`` runs. A local midnight that does not exist (a clock change at 00:00) starts
    the day at the change; one that happens twice, at its first occurrence. ``clock`` is the
    SQL for "now" (tests pass a parameter).
    """
    rows = zone_offsets(zone, now - timedelta(days=2), now + timedelta(days=365 * ZONE_YEARS))
    values = ",\n".join(f"  ('{since}', '{until}', {offset})" for since, until, offset in rows)
    return f"""WITH zone(since, until, offset_s) AS (VALUES  -- {zone}: UTC offset in seconds
{values}
),
clock(now) AS (SELECT strftime('%Y-%m-%dT%H:%M:%SZ', {clock})),
today(day) AS (
  SELECT date(clock.now, zone.offset_s || ' seconds')
  FROM clock JOIN zone ON clock.now >= zone.since AND clock.now < zone.until
),
bounds(day, start) AS (  -- when today and tomorrow begin there, in UTC
  SELECT d.day, min(max(z.since, strftime('%Y-%m-%dT%H:%M:%SZ', d.day,
                                          -z.offset_s || ' seconds')))
  FROM (SELECT day FROM today UNION ALL SELECT date(day, '+1 day') FROM today) d
  JOIN zone z ON strftime('%Y-%m-%dT%H:%M:%SZ', d.day, -z.offset_s || ' seconds') < z.until
  GROUP BY d.day
)"""


def today_matches_sql(zone: str, now: datetime) -> str:
    """The current matches of articles published today in ``zone`` (the digest's day: a
    match belongs to the day its article was published), best first."""
    return f"""-- Matches of articles published today in {zone} (the digest's day), best first.
{today_bounds_sql(zone, now)}
SELECT e.published_at, e.seed, e.score, e.title, e.feed, e.top_entities, e.url,
       e.event_id, e.article_id
FROM event_log e
WHERE e.published_at >= (SELECT min(start) FROM bounds)
  AND e.published_at < (SELECT max(start) FROM bounds)
ORDER BY e.score DESC, e.published_at"""


def datasette_metadata(db_name: str, zone: str, now: datetime) -> dict[str, Any]:
    """Datasette's metadata for the database ``db_name``: internal tables hidden, tables
    and views sorted and faceted for reading, and the canned queries (today's matches in
    ``zone`` first, then :data:`pipeline.query.EXAMPLES`)."""
    queries: dict[str, dict[str, str]] = {"todays_matches": {
        "title": f"Today's matches ({zone}), best first",
        "description": f"Matches of articles published today in {zone}: the day the "
                       "digest would report them on.",
        "sql": today_matches_sql(zone, now)}}
    first = ("articles_naming_entity", "feed_health")  # a reader's questions, then the rest
    for ex in sorted(EXAMPLES, key=lambda ex: ex.name not in first):
        queries[ex.name] = {"title": ex.title, "sql": ex.sql}
    tables: dict[str, dict[str, Any]] = {
        "_sqlite_migrations": {"hidden": True},
        "meta": {"hidden": True},
        "event_log": {
            "description": "The current matches of seeds in seeds/, newest article first. "
                           "Facets: seed, feed, language, the entities an article names and "
                           "their kinds.",
            "sort_desc": "published_at",
            "facets": ["seed", "feed", "language", {"array": "entities"},
                       {"array": "entity_kinds"}],
            "columns": {
                "score": "How well the article matches the seed (0-1)",
                "top_entities": "The five entities it names most (not places or countries)",
                "entities": "Every entity it names, most named first",
                "evidence": "The first piece of evidence for the match",
                "version": "1, 2, ... when the event was re-scored (see event_history)"}},
        "entity_articles": {
            "description": "Each article naming each entity, newest first: filter by "
                           "entity_id (the entities table links each entity here).",
            "sort_desc": "published_at",
            "facets": ["entity", "kind", "feed", "language"]},
        "story_overview": {
            "description": "One row per story (articles reporting one event, across outlets "
                           "and languages), most recently updated first, with its best "
                           "current score against each seed; spacewatch story ID shows its "
                           "timeline.",
            "sort_desc": "last_updated",
            "columns": {
                "seed_scores": "Each seed's best current score among the story's articles",
                "follows_story_id": "The earlier story this one follows up"}},
        "entities": {"sort": "name", "facets": ["kind", "origin"]},
        "quotes": {
            "description": "Who said what: each direct quote or reported statement of an "
                           "article, with its speaker (an entity id); filter by article_id "
                           "or speaker_entity_id.",
            "facets": ["speaker_name", "kind"]},
        "articles": {"sort_desc": "published_at", "facets": ["language", "text_source"]},
        "event_history": {"sort_desc": "matched_at", "facets": ["seed", "status"]},
        "matches": {"sort_desc": "matched_at", "facets": ["seed_id", "status"]},
        "fetches": {"sort_desc": "started_at", "facets": ["outcome"]},
    }
    return {"title": "SpaceWatch event log", "databases": {db_name: {
        "description": "Start with event_log: the matches, newest first. entity_articles "
                       "lists the articles naming each entity; the queries below answer "
                       f"today's matches ({zone}), an entity's articles and feed health.",
        "tables": tables, "queries": queries}}}


def write_datasette_files(folder: Path, db_name: str, zone: str,
                          now: datetime) -> tuple[Path, Path]:
    """Write ``metadata.json`` and a ``templates/`` folder for Datasette into ``folder``;
    return both paths."""
    metadata = folder / "metadata.json"
    metadata.write_text(json.dumps(datasette_metadata(db_name, zone, now)), encoding="utf-8")
    templates = folder / "templates"
    templates.mkdir(exist_ok=True)
    for name, source in TEMPLATE_OVERRIDES.items():
        shutil.copyfile(TEMPLATES / source, templates / name)
    return metadata, templates
