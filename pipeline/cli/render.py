"""Tables and lines the command line prints: plain data in, rich renderables out.

Two rules hold for everything built here:

- Text from the database or a feed goes into a :class:`rich.text.Text` as it is, so it is
  never read as console markup (a title ``[caption id=1]`` prints as written).
- The tables read on an 80-column terminal: times are short (``14:05`` today,
  ``11-30 14:05`` this year), the next fetch is relative (``in 12m``), columns with nothing
  to say are left out, long text goes under the table, and a cell that is still too wide
  folds onto the next line instead of being cut to ``…``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, tzinfo
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Progress_
from rich.table import Table
from rich.text import Text

from ..events import TOLERANCE, EventCounts
from ..ingest import PassReport, StageReport
from ..records import SKIPPED, FeedReport, Progress, parse_iso, plural
from ..store.deliveries import Delivery
from ..stories import StoryCounts
from .context import err, out


@contextmanager
def feed_progress(total: int, label: str = "fetching") -> Iterator[Progress]:
    """Progress on stderr: a live bar on a terminal; elsewhere (a log, cron) an occasional
    line such as ``entities: 400/2000 articles (20%)``."""
    terminal = err.is_terminal
    bar = Progress_(TextColumn("[bold]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TextColumn("{task.fields[last]}", markup=False),
                    TimeElapsedColumn(), console=err, transient=True, disable=not terminal)
    lines = ProgressLines(lambda line: err.print(line))
    lines.start(label, total)
    with bar:
        yield _ProgressBar(bar, bar.add_task(label, total=total, last=""),
                           None if terminal else lines)


class _ProgressBar:
    """A pass's :class:`~pipeline.records.Progress` drawn as a rich bar (and, when stderr is
    not a terminal, as :class:`ProgressLines`)."""

    def __init__(self, bar: Progress_, task: TaskID, lines: ProgressLines | None) -> None:
        self.bar, self.task, self.lines = bar, task, lines

    def stage(self, name: str, total: int | None) -> None:
        self.bar.reset(self.task, total=total, description=name, last="")
        if self.lines:
            self.lines.start(name, total)

    def advance(self, n: int = 1) -> None:
        self.bar.update(self.task, advance=n)
        if self.lines:
            self.lines.advance(n)

    def feed_done(self, report: FeedReport) -> None:
        self.bar.update(self.task, advance=1, last=report.feed)
        if self.lines:
            self.lines.advance(1)


def print_pass(report: PassReport) -> None:
    """The per-feed table after a pass (notes under it), then one summary line."""
    out.print(pass_table(report))
    out.print(pass_summary(report))


def delivery_text(delivery: Delivery, now: datetime) -> Text:
    """The last attempt to e-mail a digest (a ``Delivery``): its day, recipients, time and
    result; a failed one says how to resend it. Stored text is never read as markup."""
    head = f"last digest e-mail: {delivery.day} to {delivery.recipients}: "
    when = f" at {short_time(delivery.attempted_at, now)} (attempt {delivery.attempt})"
    if delivery.ok:
        return Text.assemble(head, ("sent", "green"), when)
    return Text.assemble(head, ("FAILED", "bold red"), f"{when}: {delivery.error}\n"
                         f"  resend with: spacewatch digest --email --date {delivery.day}")


def cell(value: object) -> Text:
    """A table cell holding ``value`` verbatim (never markup); None is empty."""
    return Text("" if value is None else str(value))


def new_table(title: str | None = None) -> Table:
    """A table whose cells fold instead of being cut, with the project's look."""
    return Table(title=Text(title) if title else None, title_justify="left",
                 box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)


def add_columns(table: Table, names: Sequence[str], right: Sequence[str] = (),
                whole: Sequence[str] = ()) -> None:
    """Add columns by name (a space in a name breaks the header onto two lines).

    Columns in ``right`` hold figures (right-aligned), those in ``whole`` short values
    such as times; neither kind is ever wrapped. The others fold long values onto more
    lines rather than cut them.
    """
    for name in names:
        header = Text(name.replace(" ", "\n"))
        if name in right or name in whole:
            table.add_column(header, justify="right" if name in right else "left",
                             no_wrap=True)
        else:
            table.add_column(header, overflow="fold")


def parse_time(value: str | datetime | None) -> datetime | None:
    """An ISO-8601 time (``…Z`` or with an offset) as an aware datetime, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return parse_iso(value)
    except ValueError:
        return None


def short_time(value: str | datetime | None, now: datetime, tz: tzinfo | None = None) -> str:
    """``14:05`` today, ``11-30 14:05`` this year, ``2025-11-30`` before; ``-`` for none.

    Shown in ``tz`` (default: the machine's local time zone), like ``ls -l``.
    """
    when = parse_time(value)
    if when is None:
        return "-" if not value else str(value)
    when, today = when.astimezone(tz), now.astimezone(tz)
    if when.date() == today.date():
        return when.strftime("%H:%M")
    if when.year == today.year:
        return when.strftime("%m-%d %H:%M")
    return when.strftime("%Y-%m-%d")


def relative_time(value: str | datetime | None, now: datetime) -> str:
    """How long until ``value``: ``in 40s``, ``in 12m``, ``in 2h05m``, ``in 3d4h``; ``due``
    when it has passed; ``-`` for none."""
    when = parse_time(value)
    if when is None:
        return "-" if not value else str(value)
    seconds = int((when - now).total_seconds())
    if seconds <= 0:
        return "due"
    if seconds < 60:
        return f"in {seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"in {minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"in {hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"in {days}d{hours}h"


def next_label(row: Mapping[str, Any], scheduled: str | None, now: datetime) -> str:
    """When the feed is fetched next: ``in 12m``, ``due``; ``disabled`` or ``off`` (not in
    feeds.yaml) when it is not fetched at all."""
    if row["disabled"]:
        return "disabled"
    if not row["enabled"]:
        return "off"
    return relative_time(scheduled or row["next_fetch_at"], now)


def status_table(rows: Sequence[Mapping[str, Any]], schedule: Mapping[str, str],
                 now: datetime, title: str, tz: tzinfo | None = None) -> RenderableType:
    """The ``status`` table (one row per feed), then one line per feed with a problem: its
    last error, how many failures in a row, why it was disabled.

    Rows are :meth:`pipeline.store.Store.feed_status` rows; ``schedule`` maps a feed name to
    the daemon's next run (else the stored ``next_fetch_at`` is used).
    """
    if not rows:
        return Text(f"{title}: no feeds yet (list them in feeds.yaml, then run "
                    "'spacewatch fetch')")
    names = ["feed", "last fetch", "result", "next", "articles", "full text", "extract failed"]
    values = []
    problems: list[Text] = []
    for row in rows:
        values.append([row["name"], short_time(row["last_fetch_at"], now, tz),
                       (row["last_outcome"] or "never").replace("_", " "),
                       next_label(row, schedule.get(row["name"]), now), row["articles"],
                       row["articles_full_text"], row["articles_extraction_failed"]])
        parts = []
        if row["last_error"]:
            parts.append(str(row["last_error"]))
        if row["disabled"]:
            parts.append(f"disabled: {row['disabled_reason'] or 'no reason recorded'}")
        elif row["error_count"]:
            parts.append(f"{plural(row['error_count'], 'failure')} in a row")
        if parts:
            problems.append(Text(f"  {row['name']}: " + "; ".join(parts)))
    # Columns with nothing to say (no full text for any feed) are left out.
    optional = {"full text", "extract failed"}
    keep = [i for i, name in enumerate(names)
            if name not in optional or any(v[i] for v in values)]
    table = new_table(title)
    add_columns(table, [names[i] for i in keep],
                right=("articles", "full text", "extract failed"), whole=("last fetch", "next"))
    for v in values:
        table.add_row(*(cell(v[i]) for i in keep))
    return Group(table, *problems) if problems else table


def errors_table(errors: Sequence[Mapping[str, Any]], now: datetime,
                 tz: tzinfo | None = None) -> Table:
    """The latest failed fetches (``Store.recent_errors`` rows), newest first."""
    table = new_table("recent errors")
    add_columns(table, ["when", "feed", "error", "detail"], whole=("when",))
    for e in errors:
        detail = e["detail"] or ""
        if len(detail) > 160:
            detail = detail[:159] + "…"
        table.add_row(cell(short_time(e["started_at"], now, tz)), cell(e["feed"]),
                      cell(e["error"]), cell(detail))
    return table


def pass_table(report: PassReport) -> RenderableType:
    """The per-feed table after a fetch pass; each feed's notes are listed under it."""
    table = new_table("fetch pass")
    add_columns(table, ["feed", "result", "http", "new", "updated", "time"],
                right=("http", "new", "updated", "time"))
    notes: list[Text] = []
    for item in sorted(report.feeds, key=lambda f: f.feed):
        result = item.outcome.replace("_", " ")
        if item.error:
            result += f": {item.error}"
        table.add_row(cell(item.feed), cell(result), cell(item.http_status or ""),
                      cell(item.new), cell(item.updated), cell(f"{item.duration_ms / 1000:.2f}s"))
        for note in ([item.detail] if item.detail else []) or item.notes:
            notes.append(Text(f"  {item.feed}: {note}"))
    return Group(table, *notes) if notes else table


def skipped_text(feeds: Sequence[FeedReport]) -> str:
    """``2 skipped (backoff)`` or ``3 skipped (2 backoff, 1 disabled)`` or ``0 skipped``."""
    skipped = [f for f in feeds if f.outcome == SKIPPED]
    reasons: dict[str, int] = {}
    for item in skipped:
        reason = "backoff" if item.error == "backing off" else (item.error or "skipped")
        reasons[reason] = reasons.get(reason, 0) + 1
    if not reasons:
        return "0 skipped"
    if len(reasons) == 1:
        return f"{len(skipped)} skipped ({next(iter(reasons))})"
    return f"{len(skipped)} skipped (" + ", ".join(f"{n} {r}" for r, n in reasons.items()) + ")"


def pass_summary(report: PassReport) -> str:
    """The line after the fetch table: feeds, articles, failures, skips, then each stage."""
    line = (f"{plural(len(report.feeds), 'feed')}: {report.new} new, {report.updated} updated, "
            f"{report.failed} failed, {skipped_text(report.feeds)}")
    return "; ".join([line, *stage_parts(report.stages)])


def stage_parts(report: StageReport) -> list[str]:
    """``stage: figures`` for each stage that ran (``full text: 3 pages, 2 extracted, 1
    failed``; ``entities: …``; ``matches: …``; ``3 stories (1 new)``: the stories articles
    joined or started)."""
    parts = []
    pages = report.full_text
    if pages.pages:
        parts.append(f"full text: {plural(pages.pages, 'page')}, {pages.extracted} extracted, "
                     f"{pages.failed} failed")
    ner = report.entities
    if ner is not None:
        parts.append(f"entities: {plural(ner.analyzed, 'article')}, "
                     f"{plural(ner.mentions, 'mention')}"
                     + (f", {ner.failed} failed" if ner.failed else ""))
    if report.matching is not None:
        parts.append("matches: " + (f"{events_text(report.matching)}; "
                                    if report.matching.rescored else "")
                     + f"{plural(report.events, 'event')} from {plural(report.seeds, 'seed')}")
    if report.stories is not None and report.stories.articles:
        parts.append(stories_text(report.stories))
    return parts


def stories_text(counts: StoryCounts) -> str:
    """``3 stories (1 new)``: the stories a run's articles joined or started."""
    n = counts.stories
    return f"{n} {'story' if n == 1 else 'stories'} ({counts.new} new)"


def events_text(counts: EventCounts) -> str:
    """What a matching run did to the event log, in one line."""
    return (f"{plural(counts.rescored, 'article')} scored: {plural(counts.new, 'new event')}, "
            f"{plural(counts.versions, 'new version')}, {counts.withdrawn} withdrawn, "
            f"{counts.unchanged} unchanged (within ±{TOLERANCE:g})")


#: What a progress stage counts, by its label.
PROGRESS_UNITS = {"fetching": "feeds", "second pass": "feeds", "full text": "pages"}


class ProgressLines:
    """Progress as an occasional line (``entities: 400/2000 articles (20%)``), for a stderr
    that is not a terminal (a log file, cron, CI), where a live bar would not show.

    A line is written each time another tenth of the stage is done, or after ``every``
    seconds without one, and when the stage completes.
    """

    def __init__(self, write: Callable[[str], None], every: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.write, self.every, self.clock = write, every, clock
        self.label, self.total, self.done = "", 0, 0
        self.tenths, self.last = 0, clock()

    def start(self, label: str, total: int | None) -> None:
        """Begin a stage of ``total`` items (None or 0 when unknown)."""
        self.label, self.total, self.done = label, total or 0, 0
        self.tenths, self.last = 0, self.clock()

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more items done; write a line when one is due."""
        self.done += n
        now = self.clock()
        unit = PROGRESS_UNITS.get(self.label, "articles")
        if self.total:
            tenths = min(self.done * 10 // self.total, 10)
            if tenths > self.tenths or now - self.last >= self.every:
                pct = min(self.done * 100 // self.total, 100)
                self.write(f"{self.label}: {self.done}/{self.total} {unit} ({pct}%)")
                self.tenths, self.last = tenths, now
        elif now - self.last >= self.every:
            self.write(f"{self.label}: {self.done} {unit}")
            self.last = now

