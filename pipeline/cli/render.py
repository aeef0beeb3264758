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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..ingest import FeedReport, PassReport
from .context import err, out


@contextmanager
def feed_progress(total: int, label: str = "fetching") -> Iterator[Any]:
    """Progress on stderr: a live bar on a terminal; elsewhere (a log, cron) an occasional
    line such as ``entities: 400/2000 articles (20%)``."""
    terminal = err.is_terminal
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("{task.fields[last]}", markup=False),
                        TimeElapsedColumn(), console=err, transient=True,
                        disable=not terminal)
    lines = ProgressLines(lambda line: err.print(line))
    lines.start(label, total)
    with progress:
        task = progress.add_task(label, total=total, last="")

        def update(event: str, item: FeedReport | None) -> None:
            if event == "feed" and item is not None:
                progress.update(task, advance=1, last=item.feed)
                if not terminal:
                    lines.advance(1)
            elif event == "advance" and isinstance(item, int):
                progress.update(task, advance=item)
                if not terminal:
                    lines.advance(item)
            elif event.startswith("stage:"):
                total = item if isinstance(item, int) else None
                stage = event.split(":", 1)[1]
                progress.reset(task, total=total, description=stage, last="")
                lines.start(stage, total)

        yield update


def print_pass(report: PassReport) -> None:
    """The per-feed table after a pass (notes under it), then one summary line."""
    out.print(pass_table(report))
    out.print(pass_summary(report))


def delivery_text(delivery: Any, now: Any) -> Text:
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
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
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


def plural(n: int, word: str) -> str:
    """``1 failure``, ``3 failures``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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
    skipped = [f for f in feeds if f.outcome == "skipped"]
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
    line = (f"{len(report.feeds)} feeds: {report.new} new, {report.updated} updated, "
            f"{report.failed} failed, {skipped_text(report.feeds)}")
    return "; ".join([line, *stats_parts(report.stages)])


def stats_parts(stats: Mapping[str, object]) -> list[str]:
    """``name: value`` for each stage statistic (none for an empty mapping)."""
    return [f"{name}: {value}" for name, value in stats.items()]


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

