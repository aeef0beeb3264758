"""The lines the daemon logs: one per fetch, one per stage run, one per reload.

Each says what happened in plain English with that run's own figures, so ``journalctl`` or
the log file reads without the database (and the tests read the same lines).
"""

from __future__ import annotations

from dataclasses import fields

from .config import Config, format_duration
from .ingest import StageReport
from .records import FeedReport, plural

#: Settings read once at start-up (the HTTP client, the job pool, the log file): a reload
#: reports a change to them, which takes effect when the daemon is restarted.
RESTART_SETTINGS = frozenset({
    "contact", "concurrency", "timeout_connect", "timeout_read", "timeout_total",
    "max_body_bytes", "max_redirects", "max_url_length", "allow_private_hosts", "log_file"})


def fetch_line(item: FeedReport) -> str:
    """The log line for one fetch: that feed's own figures, nothing from other stages."""
    return (f"fetch feed={item.feed} outcome={item.outcome} http={item.http_status or '-'} "
            f"new={item.new} updated={item.updated} duration_ms={item.duration_ms}"
            + (f" error={item.error!r}" if item.error else ""))


def stages_line(report: StageReport) -> str | None:
    """The log line for one stage run, or None when it found nothing to do."""
    pages = report.full_text
    analyzed = report.entities.analyzed if report.entities else 0
    failed = report.entities.failed if report.entities else 0
    events = report.matching
    rescored = events.rescored if events else 0
    if not (pages.pages or analyzed or failed or rescored):
        return None
    parts = [f"analysed {plural(analyzed, 'article')} "
             f"({plural(events.new if events else 0, 'new event')})"]
    if failed:
        parts.append(f"entities failed on {plural(failed, 'article')}")
    if rescored != analyzed:
        parts.append(f"{plural(rescored, 'article')} scored")
    if events and (events.versions or events.withdrawn):
        parts.append(f"{plural(events.versions, 'new version')}, "
                     f"{events.withdrawn} withdrawn")
    if pages.pages:
        parts.append(f"full text: {plural(pages.pages, 'page')}, "
                     f"{pages.extracted} extracted, {pages.failed} failed")
    if report.stories is not None and report.stories.articles:
        n = report.stories.stories
        parts.append(f"{n} {'story' if n == 1 else 'stories'} ({report.stories.new} new)")
    return "; ".join(parts)


def feed_changes(old: Config, new: Config) -> list[str]:
    """What a reload changed, as short phrases: added, removed, changed (field by field)."""
    before = {f.name: f for f in old.feeds}
    after = {f.name: f for f in new.feeds}
    was_on = {name for name, f in before.items() if f.enabled}
    is_on = {name for name, f in after.items() if f.enabled}
    changes = [f"{'enabled' if name in before else 'added'} feed {name}"
               for name in after if name in is_on - was_on]
    changes += [f"{'disabled' if name in after else 'removed'} feed {name}"
                for name in before if name in was_on - is_on]
    for name in after:
        if name not in was_on & is_on:
            continue
        for field in fields(after[name]):
            a, b = getattr(before[name], field.name), getattr(after[name], field.name)
            if a == b or field.name in ("name", "enabled"):
                continue
            if field.name == "interval":
                changes.append(f"changed interval of {name} "
                               f"({format_duration(a)} → {format_duration(b)})")
            elif field.name == "url":
                changes.append(f"changed url of {name}")
            else:
                changes.append(f"changed {field.name} of {name} ({_shown(a)} → {_shown(b)})")
    keys = [f.name for f in fields(new.settings)
            if getattr(old.settings, f.name) != getattr(new.settings, f.name)]
    if keys:
        later = [k for k in keys if k in RESTART_SETTINGS]
        changes.append("changed settings: " + ", ".join(keys) + (
            f" ({', '.join(later)} at the next start)" if later else ""))
    return changes


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "none"
    return "default" if value is None else str(value)
