"""The daily digest: one day's matches, actors on the move, a 30-day chart and feed health,
as Markdown, one self-contained HTML file, plain text or JSON; written to a folder or sent by
e-mail (HTML with a plain-text alternative), every attempt recorded in ``deliveries``.

Feed-provided text (titles, evidence, quotes, entity and feed names, errors) is never trusted:
the HTML template is rendered with Jinja2 autoescape and nothing from a feed is marked safe;
the Markdown template escapes every value by default (see :func:`md_escape`); and a link is
rendered only for an ``http``/``https`` URL (:func:`http_url`), otherwise the title is plain
text. The plain text is not Markdown: nothing is escaped, only whitespace is collapsed and
long lines folded. The SQL lives in :mod:`pipeline.store.reports`.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import ssl
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from markupsafe import Markup, escape

from .config import Settings, SmtpSettings
from .errors import SpaceWatchError
from .records import iso, parse_iso
from .store import Store
from .store.deliveries import Delivery, record_delivery
from .store.reports import DigestData, check_not_future, digest_data
from .store.story_digest import DigestStory, StoryArticle

FORMATS = ("md", "html", "json", "text")
TEMPLATES = Path(__file__).parent / "templates"
USER_ENV = "SPACEWATCH_SMTP_USER"
PASSWORD_ENV = "SPACEWATCH_SMTP_PASSWORD"
SMTP_TIMEOUT = 30.0
#: Seconds to wait before each retry of a failed e-mail: up to four attempts in ~12 minutes.
RETRY_DELAYS: tuple[float, ...] = (30.0, 120.0, 600.0)
#: Plain-text lines are folded at this width (a URL is never broken).
TEXT_WIDTH = 78
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
#: Characters with a meaning in (GitHub-flavoured) Markdown or inline HTML.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()<>#|~])")


class DigestError(SpaceWatchError):
    """The digest could not be rendered, written or sent."""


class SendError(DigestError):
    """Sending the digest failed; ``temporary`` when trying again later may work (server
    unreachable, a 4xx reply, a dropped connection), not for a refused login or recipient."""

    def __init__(self, message: str, temporary: bool = False) -> None:
        super().__init__(message)
        self.temporary = temporary


# -- safe text ---------------------------------------------------------------------------------


def http_url(url: object) -> str | None:
    """``url`` if it is an absolute http(s) URL, else None (``javascript:``, ``data:``,
    relative or garbled URLs are never rendered as links)."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def md_escape(text: Any) -> str:
    """Feed text made inert inside a Markdown line: whitespace (newlines too) collapsed to
    single spaces, so it cannot start a block of its own, and every character that could
    open a link, image, emphasis, code span, heading, table cell or raw HTML
    backslash-escaped. The templates only print it after a marker (list item, heading,
    table cell), never at the start of a line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _md_url(url: str) -> str:
    """A link destination that cannot end the ``(...)`` early or break the line."""
    return quote(url, safe="/:?#[]@!$&'*+,;=%~")


def md_link(title: Any, url: Any) -> Markup:
    """``[title](url)`` for an http(s) URL, else the escaped title alone (already Markdown,
    so the Markdown template's default escaping leaves it alone)."""
    text = md_escape(title or "(untitled)")
    href = http_url(url)
    return Markup(f"[{text}]({_md_url(href)})" if href else text)


def _md_finalize(value: Any) -> Any:
    """Escape every value printed by the Markdown template unless it is already Markdown."""
    if isinstance(value, Markup):
        return str(value)
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    return md_escape(value)


class _Folded(str):
    """Plain text already laid out in lines (by :func:`text_wrap`): printed as it is."""


def text_wrap(text: Any, first: str = "", indent: str = "", width: int = TEXT_WIDTH) -> str:
    """Text as plain lines of at most ``width`` columns: whitespace (newlines too) collapsed,
    ``first`` before the first line and ``indent`` before the others. Words are never broken,
    so a URL longer than a line keeps a line of its own."""
    return _Folded(textwrap.fill(" ".join(str(text).split()), width=width,
                                 initial_indent=first, subsequent_indent=indent,
                                 break_long_words=False, break_on_hyphens=False))


def text_url(url: Any) -> str:
    """An http(s) URL for a plain-text line (spaces and control characters percent-encoded),
    or "" for any other URL: a mail client makes links of what looks like one."""
    href = http_url(url)
    return quote(href, safe="/:?#[]@!$&'()*+,;=%~") if href else ""


def _text_finalize(value: Any) -> Any:
    """Every value printed by the plain-text template stays on its line."""
    if isinstance(value, _Folded | bool | int | float):
        return value
    if value is None:
        return ""
    return " ".join(str(value).split())


# -- the chart ---------------------------------------------------------------------------------


def chart_svg(data: DigestData, width: int = 680, height: int = 160) -> Markup:
    """An inline SVG bar chart of matches per day (no script, no external resource, system
    fonts). Its only text is dates and numbers, and that is escaped all the same."""
    days = data.chart
    if not days:
        return Markup("")
    left, right, top, bottom = 28, 8, 14, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(d.matches for d in days)
    scale_max = max(peak, 1)
    slot = plot_w / len(days)
    bar_w = max(slot * 0.7, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" class="chart" '
        f'aria-label="{escape(_chart_caption(data))}" '
        'style="display:block;max-width:100%;height:auto;font-family:-apple-system,'
        "'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:10px\">",
        f"<title>{escape(_chart_caption(data))}</title>",
    ]
    # Gridlines at 0, half and the peak.
    for value in sorted({0, scale_max // 2, scale_max} if scale_max > 1 else {0, 1}):
        y = top + plot_h - plot_h * value / scale_max
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     'stroke="#e3e7ee" stroke-width="1"/>')
        parts.append(f'<text x="{left - 5}" y="{y + 3:.1f}" text-anchor="end" '
                     f'fill="#6b7280">{value}</text>')
    for i, d in enumerate(days):
        x = left + i * slot + (slot - bar_w) / 2
        h = plot_h * d.matches / scale_max
        if d.matches and h < 2:
            h = 2.0
        colour = "#1d4ed8" if d.day == data.day else "#93b4f5"
        label = f"{d.day.isoformat()}: {d.matches} match{'es' if d.matches != 1 else ''}"
        parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" '
                     f'height="{h:.1f}" rx="1.5" fill="{colour}"><title>{escape(label)}'
                     "</title></rect>")
        if i % 7 == (len(days) - 1) % 7:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - 8}" text-anchor="middle" '
                         f'fill="#6b7280">{escape(d.day.strftime("%d %b"))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _chart_caption(data: DigestData) -> str:
    total = sum(d.matches for d in data.chart)
    if not total:
        return f"No matches in the {len(data.chart)} days to {data.day.isoformat()}."
    best = max(data.chart, key=lambda d: (d.matches, d.day))
    return (f"{total} match{'es' if total != 1 else ''} in the {len(data.chart)} days to "
            f"{data.day.isoformat()}; busiest day {best.day.isoformat()} ({best.matches}).")


def _sparkline(data: DigestData) -> Markup:
    """Matches per day as block characters (``·`` for none), oldest first."""
    blocks = "▁▂▃▄▅▆▇█"
    peak = max((d.matches for d in data.chart), default=0)
    if not peak:
        return Markup("")
    return Markup("".join("·" if not d.matches else blocks[min(7, round(7 * d.matches / peak))]
                          for d in data.chart))


# -- rendering ---------------------------------------------------------------------------------


@cache
def _environment(fmt: str) -> jinja2.Environment:
    if fmt == "html":
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                 undefined=jinja2.StrictUndefined, trim_blocks=True,
                                 lstrip_blocks=True)
    elif fmt == "text":
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False,
                                 undefined=jinja2.StrictUndefined, trim_blocks=True,
                                 lstrip_blocks=True, finalize=_text_finalize)
        env.filters["wrap"] = text_wrap
        env.filters["url"] = text_url
    else:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False,
                                 undefined=jinja2.StrictUndefined, trim_blocks=True,
                                 lstrip_blocks=True, finalize=_md_finalize)
        env.filters["link"] = md_link
    env.filters["http_url"] = http_url
    return env


def _context(data: DigestData) -> dict[str, Any]:
    local_day = data.day
    tz = ZoneInfo(data.timezone)

    def when(stored: str) -> str:
        """A stored UTC time in the digest's zone: ``HH:MM`` on the digest's day, else
        ``YYYY-MM-DD HH:MM``."""
        local = parse_iso(stored).astimezone(tz)
        same_day = local.date() == local_day and not data.since
        return local.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M")

    since = when(data.since) if data.since else ""
    return {
        "d": data,
        "date": local_day.isoformat(),
        "long_date": (f"new since {since}" if data.since else
                      f"{local_day:%A}, {local_day.day} {local_day:%B %Y}"),
        "window": f"since {since}" if data.since else f"on {local_day.isoformat()}",
        "new_label": f"New since {since}" if data.since else "New since the previous day",
        "chart_caption": _chart_caption(data),
        "when": when,
    }


def render_digest(data: DigestData, fmt: str) -> str:
    """The digest as ``md``, ``html`` (one self-contained file), ``text`` or ``json``."""
    if fmt == "json":
        return json.dumps(digest_json(data), ensure_ascii=False, indent=2) + "\n"
    if fmt not in FORMATS:
        raise DigestError(f"unknown digest format {fmt!r} (use one of: {', '.join(FORMATS)})")
    context = _context(data)
    if fmt == "html":
        context["chart_svg"] = chart_svg(data)
    else:
        context["sparkline"] = _sparkline(data)
    name = "txt" if fmt == "text" else fmt
    return _environment(fmt).get_template(f"digest.{name}.j2").render(context)


def _story_article_json(a: StoryArticle) -> dict[str, Any]:
    return {"article_id": a.article_id, "title": a.title, "url": a.url, "feed": a.feed,
            "language": a.language, "published_at": a.published_at,
            "published_estimated": a.published_estimated, "joined_at": a.joined_at}


def story_json(story: DigestStory) -> dict[str, Any]:
    """One story entry as JSON-ready data (also used by other reports of stories)."""
    return {
        "story_id": story.story_id, "key": story.key, "headline": story.headline,
        "url": story.first.url, "first_report": _story_article_json(story.first),
        "article_count": story.article_count, "outlets": list(story.outlets),
        "languages": list(story.languages), "new_story": story.new_story,
        "new_count": story.new_count,
        "new_articles": [_story_article_json(a) for a in story.new_articles],
        "actors": list(story.actors),
        "quotes": [{"speaker_id": q.speaker_id, "speaker_name": q.speaker_name,
                    "kind": q.kind, "text": q.text} for q in story.quotes],
        "scores": [{"seed": s.seed_id, "title": s.title, "score": s.score}
                   for s in story.scores],
        "found_at": story.found_at, "late_published": story.late_published,
        "found_article_ids": list(story.found_ids),
    }


def digest_json(data: DigestData) -> dict[str, Any]:
    """The digest as plain JSON-ready data (the ``json`` format)."""
    return {
        "date": data.day.isoformat(),
        "timezone": data.timezone,
        "generated_at": data.generated_at,
        "since": data.since,
        "articles": data.articles,
        "stories": [story_json(s) for s in data.stories],
        "seeds": [{"id": s.id, "title": s.title, "matches": [
            {"article_id": m.article_id, "title": m.title, "url": m.url, "feed": m.feed,
             "published_at": m.published_at, "published_estimated": m.published_estimated,
             "score": m.score, "entities": list(m.entities),
             "evidence": m.evidence,
             "quotes": [{"speaker_id": q.speaker_id, "speaker_name": q.speaker_name,
                         "kind": q.kind, "text": q.text, "seed_entity": q.seed_entity}
                        for q in m.quotes]} for m in s.matches],
                   "stories": [{"key": e.story.key, "story_id": e.story.story_id,
                                "score": e.score, "evidence": e.evidence}
                               for e in s.stories]} for s in data.seeds],
        "actors": [{"id": a.id, "name": a.name, "kind": a.kind, "count": a.count,
                    "baseline": a.baseline, "new": a.new, "context": a.context}
                   for a in data.actors],
        "chart": [{"date": c.day.isoformat(), "matches": c.matches} for c in data.chart],
        "feed_health": [{"name": f.name, "url": f.url, "problem": f.problem,
                         "last_outcome": f.last_outcome, "last_error": f.last_error,
                         "error_count": f.error_count, "disabled": f.disabled,
                         "disabled_reason": f.disabled_reason,
                         "last_fetch_at": f.last_fetch_at, "last_new_at": f.last_new_at}
                        for f in data.feed_health],
        "feed_health_scope": data.health_scope,
        "fetches": data.fetches,
        "alert_failures": [{"idempotency_key": a.idempotency_key, "rule": a.rule,
                            "channel": a.channel, "story_id": a.story_id,
                            "attempts": a.attempts, "last_error": a.last_error}
                           for a in data.alert_failures],
    }


def zone(timezone: str) -> ZoneInfo:
    """The IANA time zone called ``timezone``, or :class:`DigestError`."""
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DigestError(f"unknown time zone {timezone!r} (use an IANA name such as "
                          "Europe/Moscow or UTC)") from None


def load_digest(store: Store, day: date, timezone: str,
                now: datetime | None = None, since: datetime | None = None) -> DigestData:
    """Read the digest of local calendar day ``day`` in ``timezone`` (not a day after
    today there: :class:`DigestError`): the stories with a match found that day. With
    ``since`` (timezone-aware, before ``now``), the stories with a match found since then,
    and ``day`` is today."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None or (since is not None and since.tzinfo is None):
        raise DigestError("now and since must be timezone-aware")
    tz = zone(timezone)
    if since is not None:
        if since > now:
            raise DigestError(f"--since {iso(since)} is in the future (now is {iso(now)})")
        day = now.astimezone(tz).date()
    check_not_future(day, tz, now)
    return digest_data(store, day, tz, now, since)


def build_digest(store: Store, day: date, fmt: str, timezone: str,
                 now: datetime | None = None, since: datetime | None = None) -> str:
    """Read and render one day's digest (``fmt``: md, html, text or json), or with
    ``since`` everything found since then."""
    if fmt not in FORMATS:
        raise DigestError(f"unknown digest format {fmt!r} (use one of: {', '.join(FORMATS)})")
    return render_digest(load_digest(store, day, timezone, now, since), fmt)


def digest_subject(data: DigestData) -> str:
    """A mail subject line: the date and the counts."""
    n, m = data.story_count, data.match_count
    return (f"SpaceWatch digest {data.day.isoformat()}: {n} stor{'ies' if n != 1 else 'y'}, "
            f"{m} match{'es' if m != 1 else ''}")


#: The earliest ``--since`` (an earlier one means "everything").
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_since(text: str, timezone: str, now: datetime | None = None) -> datetime:
    """``digest --since``: an ISO date (from 00:00 that day) or date and time; without an
    offset it is read in ``timezone``. Not after ``now``. (``last`` is resolved by the
    caller with :func:`last_digest_until`.)"""
    tz = zone(timezone)
    now = now or datetime.now(UTC)
    raw = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            when = datetime.combine(date.fromisoformat(raw), dt_time(0), tzinfo=tz)
        else:
            when = datetime.fromisoformat(raw)
    except ValueError:
        raise DigestError(f"--since {text!r}: not a date or time (use YYYY-MM-DD, "
                          "YYYY-MM-DDTHH:MM with an optional offset such as +03:00, or "
                          "'last')") from None
    if when.year < EPOCH.year:  # nothing was found before; year 1 cannot even be in UTC
        return EPOCH
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    if when > now:
        raise DigestError(f"--since {text!r} is in the future (now is "
                          f"{now.astimezone(tz):%Y-%m-%d %H:%M} in {tz.key})")
    return when


#: ``meta`` key: the moment up to which the last digest written or e-mailed covered what was
#: found (JSON: ``until``, ``at``, ``how``); ``digest --since last`` starts there.
LAST_DIGEST_KEY = "digest.last"


def record_last_digest(store: Store, data: DigestData, how: str) -> None:
    """Remember how far the digest ``data`` (written or e-mailed) covered: the end of its
    day, or the moment it was made when that came first. Never moved back (writing an old
    day again does not make ``--since last`` repeat a week)."""
    tz = ZoneInfo(data.timezone)
    end = iso(datetime.combine(data.day + timedelta(days=1), dt_time(0), tzinfo=tz))
    until = min(end, data.generated_at)
    previous = last_digest_until(store)
    if previous is not None and iso(previous) >= until:
        return
    store.set_meta(LAST_DIGEST_KEY, json.dumps({"until": until, "at": data.generated_at,
                                                "how": how}), data.generated_at)


def last_digest_until(store: Store) -> datetime | None:
    """Up to when the last digest written or e-mailed covered the finds (None: none yet)."""
    row = store.get_meta(LAST_DIGEST_KEY)
    if not row or not row.get("value"):
        return None
    try:
        return parse_iso(json.loads(row["value"])["until"])
    except (ValueError, KeyError, TypeError):
        return None


def write_digest(store: Store, folder: Path, day: date, timezone: str, *,
                 now: datetime | None = None) -> Path:
    """Write ``digest-YYYY-MM-DD.html`` and ``.md`` into ``folder`` (created if missing),
    each replaced atomically; return the HTML file's path."""
    data = load_digest(store, day, timezone, now)
    folder = Path(folder)
    stem = f"digest-{day.isoformat()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for fmt in ("md", "html"):
            target = folder / f"{stem}.{fmt}"
            tmp = folder / f".{stem}.{fmt}.tmp"
            tmp.write_text(render_digest(data, fmt), encoding="utf-8")
            os.replace(tmp, target)
    except OSError as exc:
        raise DigestError(f"{folder}: cannot write the digest: {exc}") from None
    record_last_digest(store, data, "file")
    return folder / f"{stem}.html"


# -- e-mail ------------------------------------------------------------------------------------


def smtp_credentials() -> tuple[str, str] | None:
    """(user, password) from SPACEWATCH_SMTP_USER / SPACEWATCH_SMTP_PASSWORD, or None when
    neither is set. Credentials never come from feeds.yaml."""
    user, password = os.environ.get(USER_ENV, ""), os.environ.get(PASSWORD_ENV, "")
    if not user and not password:
        return None
    if not user or not password:
        missing = USER_ENV if not user else PASSWORD_ENV
        raise DigestError(f"SMTP credentials are incomplete: {missing} is not set")
    return user, password


def digest_message(html: str, text: str, subject: str, smtp: SmtpSettings) -> EmailMessage:
    """A multipart/alternative message: the plain text (``render_digest(data, "text")``) as
    text/plain, the HTML as text/html."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = smtp.sender
    msg["To"] = ", ".join(smtp.to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = smtp.sender.rpartition("@")[2] or None
    msg["Message-ID"] = make_msgid(domain=domain)
    # Quoted-printable keeps the message 7-bit for any relay, and readable.
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def send_digest(html: str, text: str, subject: str, smtp: SmtpSettings) -> None:
    """Send the digest over SMTP: implicit TLS on port 465, STARTTLS when ``smtp.tls``,
    plain otherwise; log in only when the credential variables are set, and never send them
    unencrypted to a host other than this machine. Fails with :class:`SendError`."""
    if not smtp.enabled:
        raise DigestError("e-mail delivery is not configured (settings.smtp needs host, "
                          "sender and to)")
    credentials = smtp_credentials()
    where = f"{smtp.host}:{smtp.port}"
    if credentials and not smtp.tls and smtp.host.lower() not in _LOOPBACK:
        raise DigestError(f"refusing to send SMTP credentials unencrypted to {where}: set "
                          "settings.smtp.tls to true")
    msg = digest_message(html, text, subject, smtp)
    context = ssl.create_default_context()
    try:
        if smtp.tls and smtp.port == 465:
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=SMTP_TIMEOUT,
                                                    context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=SMTP_TIMEOUT)
        with client:
            client.ehlo()
            if smtp.tls and smtp.port != 465:
                client.starttls(context=context)
                client.ehlo()
            if credentials:
                client.login(*credentials)
            refused = client.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise SendError(f"SMTP server {where} refused the login for "
                        f"{credentials[0] if credentials else '?'}: {_smtp_reply(exc)}") \
            from None
    except smtplib.SMTPNotSupportedError as exc:
        raise SendError(f"SMTP server {where}: {exc} (check settings.smtp.tls and "
                        f"{USER_ENV} / {PASSWORD_ENV})") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise SendError(f"SMTP server {where} refused every recipient: "
                        f"{', '.join(exc.recipients)}") from None
    except smtplib.SMTPResponseException as exc:  # 4xx: try again later; 5xx: permanent
        raise SendError(f"SMTP server {where} said: {_smtp_reply(exc)}",
                        temporary=400 <= exc.smtp_code < 500) from None
    except smtplib.SMTPException as exc:  # e.g. the server hung up
        raise SendError(f"sending the digest via {where} failed: {exc}",
                        temporary=True) from None
    except ssl.SSLError as exc:
        raise SendError(f"TLS with SMTP server {where} failed: {exc.reason or exc}") from None
    except OSError as exc:  # refused, unreachable, timed out, name not resolved
        raise SendError(f"cannot reach SMTP server {where}: {exc}", temporary=True) from None
    if refused:
        raise SendError(f"SMTP server {where} refused: {', '.join(sorted(refused))}")


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def deliver_digest(store: Store, settings: Settings, day: date, *,
                   now: datetime | None = None,
                   delays: tuple[float, ...] | None = None,
                   wait: Callable[[float], bool] = _sleep,
                   clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Delivery:
    """E-mail the digest of local day ``day`` to ``settings.smtp.to``, retrying a temporary
    failure after each of ``delays`` seconds (default :data:`RETRY_DELAYS`), and record every
    attempt in ``deliveries``. Return the successful attempt; raise :class:`DigestError` after
    the last failed one (or at once for a permanent failure such as a refused login).

    ``wait(seconds)`` sleeps between attempts and returns True to give up early (the daemon
    passes its stop event's ``wait``, so a shutdown is not held up by a 10-minute backoff);
    ``clock`` stamps the attempts.
    """
    smtp = settings.smtp
    if not smtp.enabled:
        raise DigestError("e-mail delivery is not configured (settings.smtp needs host, "
                          "sender and to)")
    delays = RETRY_DELAYS if delays is None else delays
    data = load_digest(store, day, settings.digest_timezone, now)
    html, text = render_digest(data, "html"), render_digest(data, "text")
    subject = digest_subject(data)
    attempt = 0
    while True:
        attempt += 1
        try:
            send_digest(html, text, subject, smtp)
        except SendError as exc:
            failure: SendError = exc
        else:
            record_last_digest(store, data, "email")
            return record_delivery(store, day, "email", smtp.to, iso(clock()), True, None,
                                   attempt)
        record_delivery(store, day, "email", smtp.to, iso(clock()), False, str(failure),
                        attempt)
        tries = f"{attempt} attempt{'s' if attempt != 1 else ''}"
        if not failure.temporary or attempt > len(delays):
            raise DigestError(f"e-mailing the digest of {day.isoformat()} failed after "
                              f"{tries}: {failure}")
        if wait(delays[attempt - 1]):
            raise DigestError(f"e-mailing the digest of {day.isoformat()} failed after "
                              f"{tries} (retries stopped): {failure}")


def _smtp_reply(exc: smtplib.SMTPResponseException) -> str:
    message = exc.smtp_error
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{exc.smtp_code} {text}".strip()
