"""Feed bytes -> :class:`ParsedFeed` of :class:`Article` records.

feedparser's dictionaries stop here: the rest of SpaceWatch sees only these dataclasses.
Hostile XML is defused before feedparser sees it (DOCTYPE internal subsets and entity
declarations are removed, so neither a billion-laughs nor a quadratic-blowup document can
expand), and every URL is canonicalized and checked.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import feedparser
from feedparser import FeedParserDict

from .config import Settings
from .language import LanguageGuess, detect_language
from .records import Article, iso, parse_iso
from .sanitize import canonical_url, clean_text

_DOCTYPE_SUBSET = re.compile(rb"<!DOCTYPE[^\[>]*\[.*?\]\s*>", re.I | re.S)
_ENTITY_DECL = re.compile(rb"<!ENTITY[^>]*>", re.I | re.S)
_DOCTYPE_SUBSET_TEXT = re.compile(r"<!DOCTYPE[^\[>]*\[.*?\]\s*>", re.I | re.S)
_ENTITY_DECL_TEXT = re.compile(r"<!ENTITY[^>]*>", re.I | re.S)
#: (prefix, codec) of the UTF-16/32 forms an XML document may start with (XML 1.0, F.1): a
#: byte-order mark (kept), or a NUL-padded "<" or "<?". UTF-32 first: its LE mark starts
#: like UTF-16's.
_WIDE_FORMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
               (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"),
               (b"<\x00\x00\x00", "utf-32-le"), (b"\x00\x00\x00<", "utf-32-be"),
               (b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"))
_WS = re.compile(r"\s+")
_BLOCK_TAGS = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
               "blockquote", "tr", "table", "section", "article", "pre", "hr"}
_SKIP_TAGS = {"script", "style", "noscript", "template", "iframe", "object"}
FUTURE_TOLERANCE = timedelta(days=1)


class NotAFeed(Exception):
    """The body parsed to no feed at all (an HTML page, an empty or garbled body)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


@dataclass
class ParsedFeed:
    """A parsed feed body: its entries and what was noticed on the way."""

    title: str
    version: str
    articles: list[Article] = field(default_factory=list)
    bozo: str | None = None
    skipped: int = 0
    notes: list[str] = field(default_factory=list)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str | None) -> str:
    """Strip tags and decode entities; paragraphs become newlines, runs of spaces one space."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        text = markup
    else:
        parser = _TextExtractor()
        try:
            parser.feed(markup)
            parser.close()
            text = "".join(parser.parts)
        except (AssertionError, ValueError):  # html.parser gives up on some garbage
            text = html.unescape(re.sub(r"<[^>]*>", " ", markup))
    text = clean_text(text).replace("\xa0", " ")
    lines = (_WS.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def defuse_xml(body: bytes) -> tuple[bytes, bool]:
    """Remove DOCTYPE internal subsets, entity declarations and NUL bytes.

    Returns the cleaned body and whether anything was removed. Entity references left
    dangling stay as undefined text; nothing can expand. A UTF-16 or UTF-32 body is cleaned
    as text and re-encoded in its own encoding (its NUL bytes are characters, not junk).
    """
    for prefix, codec in _WIDE_FORMS:
        if body.startswith(prefix):
            bom = prefix if b"<" not in prefix else b""
            try:
                text = body[len(bom):].decode(codec)
            except UnicodeDecodeError:
                break  # not really UTF-16/32: clean it as bytes
            cleaned_text = _ENTITY_DECL_TEXT.sub("", _DOCTYPE_SUBSET_TEXT.sub("", text))
            cleaned_text = cleaned_text.replace("\x00", "")
            if cleaned_text == text:
                return body, False
            return bom + cleaned_text.encode(codec), True
    cleaned = _DOCTYPE_SUBSET.sub(b"", body)
    cleaned = _ENTITY_DECL.sub(b"", cleaned)
    cleaned = cleaned.replace(b"\x00", b"")
    return cleaned, cleaned != body


def content_hash(title: str, text: str) -> str:
    """A hash of the normalized title and text: the same story syndicated twice hashes equal."""
    key = _WS.sub(" ", f"{title}\n{text}".lower()).strip()
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def parse_feed(body: bytes, *, url: str, content_type: str, fetched_at: datetime,
               settings: Settings, language: str | None = None) -> ParsedFeed:
    """Parse a feed body with feedparser and normalize its entries.

    Raises :class:`NotAFeed` when the body holds no feed (an HTML page, an empty body).
    A "bozo" feed that still yields entries is kept, with the reason in ``bozo``.
    """
    if not body.strip():
        raise NotAFeed("empty body")
    body, defused = defuse_xml(body)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True,
                              resolve_relative_uris=True)
    bozo = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        bozo = f"{type(exc).__name__}: {exc}"[:300] if exc else "malformed feed"
    entries = parsed.get("entries") or []
    version = parsed.get("version") or ""
    if not entries and not version:
        lower = body[:2048].lower()
        if b"<html" in lower or b"<!doctype html" in lower:
            raise NotAFeed("html page, not a feed", "the server answered with an HTML page")
        raise NotAFeed("not a feed", bozo or "no feed found in the body")
    feed_info = parsed.get("feed") or {}
    feed_language = language or _language(feed_info.get("language"))
    result = ParsedFeed(title=html_to_text(feed_info.get("title", "")) or "", version=version,
                        bozo=bozo)
    if defused:
        result.notes.append("DOCTYPE internal subset or entity declarations removed")
    cap = settings.max_items_per_feed
    numbered = list(enumerate(entries, start=1))
    if len(entries) > cap:
        numbered, newest = _keep_newest(numbered, cap)
        kept = f"kept the newest {cap}" if newest else f"kept the first {cap} (no dates)"
        result.notes.append(f"{len(entries)} entries, capped at {cap}; {kept}")
    seen: set[str] = set()
    date_notes: list[str] = []
    for number, entry in numbered:
        article = normalize_entry(entry, fetched_at=fetched_at, settings=settings,
                                  language=feed_language)
        if article is None:
            result.skipped += 1
            continue
        if article.guid in seen:  # duplicate GUID inside one document: first one wins
            result.skipped += 1
            continue
        seen.add(article.guid)
        result.articles.append(article)
        if article.date_note:
            date_notes.append(f"entry {number}: {article.date_note}")
    if result.skipped:
        result.notes.append(f"{result.skipped} entries skipped (no usable id, link or text, "
                            "or a duplicate id)")
    if date_notes:
        more = f"; and {len(date_notes) - 3} more" if len(date_notes) > 3 else ""
        result.notes.append("; ".join(date_notes[:3]) + more)
    return result


def _entry_time(entry: FeedParserDict) -> float | None:
    """The entry's own date as a timestamp (published, else updated, else created)."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return float(calendar.timegm(value))
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _keep_newest(numbered: list[tuple[int, FeedParserDict]], cap: int
                 ) -> tuple[list[tuple[int, FeedParserDict]], bool]:
    """The ``cap`` newest of the numbered entries, in document order, and whether dates
    decided it.

    Entries are ranked by their own dates. An undated entry takes the date of the dated
    entry before it in the document (or after it, at the top), so it stays among its
    neighbours; equal dates are broken by the document's own direction (an oldest-first
    feed's newest entries are at its end). With no dates at all, the top of the document
    is kept: feeds list their newest entries first.
    """
    stamps = [_entry_time(entry) for _n, entry in numbered]
    dated = [t for t in stamps if t is not None]
    if not dated:
        return numbered[:cap], False
    ascending = sum(b > a for a, b in zip(dated, dated[1:], strict=False)) > \
        sum(b < a for a, b in zip(dated, dated[1:], strict=False))
    filled: list[float] = []
    last = dated[0]
    for stamp in stamps:
        last = stamp if stamp is not None else last
        filled.append(last)
    order = sorted(range(len(numbered)), reverse=True,
                   key=lambda i: (filled[i], i if ascending else -i))
    return [numbered[i] for i in sorted(order[:cap])], True


def normalize_entry(entry: FeedParserDict, *, fetched_at: datetime, settings: Settings,
                    language: str | None = None) -> Article | None:
    """One feedparser entry -> :class:`Article`, or None if it has nothing to identify it.

    An entry with an id or a usable link but no text is kept (empty title and summary): the
    story exists, and its page may still bring the text. Only an entry with no id, no link
    and no text is dropped.
    """
    title = html_to_text(entry.get("title"))[:1000]
    summary = _summary(entry)
    link = canonical_url(entry.get("link"), settings.max_url_length)
    raw_id = entry.get("id") or entry.get("guid")
    guid = _WS.sub(" ", str(raw_id)).strip()[:1000] if raw_id else ""
    if not title and not summary and not guid and not link:
        return None
    digest = content_hash(title, summary)
    if not guid:
        guid = link or f"sha:{digest}"
    published, estimated, date_note = _published(entry, fetched_at)
    author = html_to_text(entry.get("author"))[:200] or None
    # The entry's (else the feed's) declared language is only a hint: a Russian item in an
    # English feed is Russian.
    guess = detect_language(f"{title}\n{summary}",
                            hint=_language(entry.get("language")) or language)
    return Article(guid=guid, url=link, title=title, summary=summary, published_at=published,
                   published_estimated=estimated, author=author, language=guess.code,
                   language_confidence=round(guess.confidence, 4),
                   language_source=guess.source, content_hash=digest, date_note=date_note)


def _summary(entry: FeedParserDict) -> str:
    candidates = []
    if entry.get("summary"):
        candidates.append(entry["summary"])
    for content in entry.get("content") or []:
        if isinstance(content, dict) and content.get("value"):
            candidates.append(content["value"])
    texts = [html_to_text(c) for c in candidates]
    return max(texts, key=len) if texts else ""


def _published(entry: FeedParserDict, fetched_at: datetime) -> tuple[str, bool, str | None]:
    """(published_at, estimated, why the fetch time was used despite a date in the entry)."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                when = datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, TypeError, OSError):
                continue
            if when > fetched_at + FUTURE_TOLERANCE or when.year < 1970:
                return iso(fetched_at), True, (f"published {iso(when)} is implausible; "
                                               "using the fetch time")
            return iso(when), False, None
    raw = next((entry.get(k) for k in ("published", "updated", "created") if entry.get(k)), None)
    if raw:
        return iso(fetched_at), True, (f"unparseable published {_quoted(raw)}; "
                                       "using the fetch time")
    return iso(fetched_at), True, None


def _quoted(value: object) -> str:
    """A source's value, short and inert, for a note: ``'yesterday-ish'``."""
    text = " ".join(clean_text(str(value)).split())
    return repr(text if len(text) <= 60 else text[:59] + "…")


def given_language(value: object) -> str | None:
    """A language as a source declares it ("ru-RU", "en_US", "RU"), as an ISO code ("ru");
    None when there is none."""
    if not value or not isinstance(value, str):
        return None
    return value.strip().lower().split("-")[0].split("_")[0][:8] or None


_language = given_language


def import_record(record: dict[str, Any], now: datetime, settings: Settings) -> Article | None:
    """An ``import`` JSONL record -> :class:`Article` (None when it has no text).

    An unusable ``published`` keeps the import time, flagged estimated, and says why in
    ``date_note``.
    """
    text = clean_text(str(record.get("text") or "")).strip()
    if not text:
        return None
    title = _WS.sub(" ", clean_text(str(record.get("title") or ""))).strip()[:1000]
    url = canonical_url(record.get("url"), settings.max_url_length)
    digest = content_hash(title, text)
    guid = str(record["id"]) if record.get("id") not in (None, "") else (url or f"sha:{digest}")
    published, estimated, note = iso(now), True, None
    raw = record.get("published")
    if raw not in (None, ""):
        try:
            when = parse_iso(str(raw))
        except ValueError:
            note = f"unparseable published {_quoted(raw)}; using the import time"
        else:
            if when <= now + FUTURE_TOLERANCE:
                published, estimated = iso(when), False
            else:
                note = f"published {_quoted(raw)} is in the future; using the import time"
    given = _language(record.get("language"))  # the record's own language wins
    guess = LanguageGuess(given, 1.0, "given") if given else \
        detect_language(f"{title}\n{text}")
    return Article(guid=guid, url=url, title=title, summary=text,
                   published_at=published, published_estimated=estimated,
                   language=guess.code, language_confidence=round(guess.confidence, 4),
                   language_source=guess.source, content_hash=digest, date_note=note)
