"""OPML in and out: how every feed reader moves its subscriptions.

- :func:`read_opml` turns an OPML file into :class:`Subscription` records at the border.
  It parses with defusedxml: a file that declares entities (the "billion laughs" expansion,
  an external entity reading a local file) is refused whole, never expanded.
- :func:`plan_import` decides, against the current configuration, which subscriptions are new
  (by canonical URL and by name), which are already subscribed, and which conflict with a
  feed of the same name at another URL. Nothing already in feeds.yaml is ever changed.
- :func:`appended_config` appends the new feeds to the text of feeds.yaml, keeping every
  byte of what was there (comments, order, settings), and checks the result with the
  project's own config parser; :func:`replace_config` writes it atomically with a backup.
- :func:`write_opml` exports the configured feeds: names, URLs, sites, languages, and the
  tags as folders (the first tag) plus an OPML ``category`` (all tags, when more than one).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unicodedata
import xml.etree.ElementTree as ET  # building the export only; parsing goes through defusedxml
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import defusedxml
import yaml
from defusedxml import ElementTree as SafeET

from .config import Config, Feed, parse_config
from .errors import ConfigError, InputError
from .sanitize import canonical_url, clean_text

#: The largest OPML file read: a reader's export of thousands of feeds is well under this.
MAX_OPML_BYTES = 10 * 1024 * 1024
_NAME_CHARS = re.compile(r"[^A-Za-z0-9 _.\-]+")
_MAX_NAME = 80


@dataclass(frozen=True)
class Subscription:
    """One feed outline of an OPML file, cleaned of invisible characters."""

    name: str  # the outline's text (else its title), as the file spells it
    url: str  # xmlUrl
    site: str | None = None  # htmlUrl
    tags: tuple[str, ...] = ()  # the enclosing folders, outermost first, then its categories
    language: str | None = None


@dataclass(frozen=True)
class OpmlFile:
    """What an OPML file holds: its subscriptions in document order, and one line per outline
    that could not be read as one (no xmlUrl, a URL that is not http(s))."""

    subscriptions: tuple[Subscription, ...]
    skipped: tuple[str, ...] = ()
    folders: int = 0


@dataclass(frozen=True)
class NewFeed:
    """A subscription that becomes a feed: its feeds.yaml name (valid, unique) and its entry."""

    name: str
    subscription: Subscription

    @property
    def renamed(self) -> bool:
        """Whether the OPML's name had to change to be a valid, unique feed name."""
        return self.name != self.subscription.name

    def entry(self) -> dict[str, Any]:
        """The feed as a feeds.yaml mapping (defaults left out: interval, enabled)."""
        sub = self.subscription
        item: dict[str, Any] = {"name": self.name, "url": sub.url}
        if sub.site:
            item["site"] = sub.site
        if sub.tags:
            item["tags"] = list(sub.tags)
        if sub.language:
            item["language"] = sub.language
        return item


@dataclass(frozen=True)
class NotImported:
    """A subscription left out, and why."""

    subscription: Subscription
    reason: str


@dataclass(frozen=True)
class ImportPlan:
    """What importing an OPML file into a configuration would do."""

    added: tuple[NewFeed, ...] = ()
    #: Already in feeds.yaml at the same (canonical) URL: nothing to do.
    duplicates: tuple[NotImported, ...] = ()
    #: A feed of that name exists at another URL: left for the user to decide.
    conflicts: tuple[NotImported, ...] = ()
    #: Outlines that are no subscription (no xmlUrl, not an http(s) URL).
    skipped: tuple[str, ...] = ()
    #: Subscriptions listed more than once in the file (in several folders): merged.
    merged: tuple[str, ...] = ()


# -- reading -------------------------------------------------------------------------------


def read_opml(data: bytes, source: str = "OPML") -> OpmlFile:
    """Parse an OPML file (1.0 or 2.0) into subscriptions; folders become tags.

    Raises :class:`InputError` for a file that is not OPML, has no ``<body>``, is too large,
    or declares XML entities (refused unexpanded: an OPML file has no use for them).
    """
    if len(data) > MAX_OPML_BYTES:
        raise InputError(f"{source}: larger than {MAX_OPML_BYTES // (1024 * 1024)} MB; "
                         "not an OPML subscription list")
    try:
        root = SafeET.fromstring(data)
    except defusedxml.DefusedXmlException as exc:
        raise InputError(f"{source}: refused: the file declares XML entities or an external "
                         f"reference ({type(exc).__name__}), which OPML never needs (an "
                         "entity-expansion or file-reading attack); nothing was imported"
                         ) from None
    except ET.ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        reason = str(exc).split(":", 1)[0]
        raise InputError(f"{source}: not an OPML file: not well-formed XML ({reason} at line "
                         f"{line}, column {column + 1})") from None
    if _local(root.tag) != "opml":
        raise InputError(f"{source}: not an OPML file (its root element is "
                         f"<{_local(root.tag)[:40]}>, not <opml>)")
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise InputError(f"{source}: not an OPML file: it has no <body>")
    subscriptions: list[Subscription] = []
    skipped: list[str] = []
    folders = 0
    for outline, path in _outlines(body):
        attrs = {key.lower(): clean_text(value).strip() for key, value in outline.attrib.items()}
        name = attrs.get("text") or attrs.get("title") or ""
        url = attrs.get("xmlurl", "")
        children = any(_local(child.tag) == "outline" for child in outline)
        if not url:
            if children:
                folders += 1
            else:
                skipped.append(f"outline {name[:80]!r} has no xmlUrl (not a feed)")
            continue
        url = _feed_scheme(url)
        if canonical_url(url) is None or urlsplit(url).scheme not in ("http", "https"):
            skipped.append(f"outline {name[:80]!r}: xmlUrl {url[:200]!r} is not an http(s) URL")
            continue
        site = _feed_scheme(attrs.get("htmlurl", "")) or None
        if site is not None and canonical_url(site) is None:
            site = None  # a broken home-page link is not worth losing the feed over
        tags = _unique([*path, *_categories(attrs.get("category", ""))])
        subscriptions.append(Subscription(name=name, url=url, site=site, tags=tags,
                                          language=attrs.get("language") or None))
    return OpmlFile(subscriptions=tuple(subscriptions), skipped=tuple(skipped), folders=folders)


def _local(tag: object) -> str:
    """An element's name without its namespace (``{ns}outline`` -> ``outline``)."""
    return str(tag).rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _outlines(body: ET.Element) -> Iterator[tuple[ET.Element, tuple[str, ...]]]:
    """Every ``<outline>`` in document order, with the names of the folders around it.

    Iterative, so a file nested thousands of levels deep cannot exhaust the stack."""
    stack: list[tuple[ET.Element, tuple[str, ...]]] = [
        (child, ()) for child in reversed(list(body)) if _local(child.tag) == "outline"]
    while stack:
        outline, path = stack.pop()
        yield outline, path
        attrs = {key.lower(): value for key, value in outline.attrib.items()}
        inner = path
        if not attrs.get("xmlurl", "").strip():
            title = clean_text(attrs.get("text") or attrs.get("title") or "").strip()
            inner = (*path, title) if title else path
        stack.extend((child, inner) for child in reversed(list(outline))
                     if _local(child.tag) == "outline")


def _feed_scheme(url: str) -> str:
    """``feed://host/x`` and ``feed:https://host/x`` (old readers' schemes) as http(s)."""
    if not url.lower().startswith("feed:"):
        return url
    rest = url[5:]
    if rest.lower().startswith(("http://", "https://")):
        return rest
    return "http:" + rest if rest.startswith("//") else url


def _categories(value: str) -> list[str]:
    """OPML 2.0 ``category``: comma-separated, each slash-delimited (``/News/Space``)."""
    return [part.strip().strip("/").strip() for part in value.split(",")
            if part.strip().strip("/").strip()]


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


# -- deciding ------------------------------------------------------------------------------


def feed_name(title: str, url: str) -> str:
    """A valid feeds.yaml name for a subscription: accents folded, other characters a
    feed name cannot hold dropped; the site's host when nothing is left (a name in another
    script), cut to 80 characters at a word."""
    text = "".join(c for c in unicodedata.normalize("NFKD", title.replace("&", " and "))
                   if not unicodedata.combining(c))
    text = " ".join(_NAME_CHARS.sub(" ", text).split()).strip(" _.-")
    if not text:
        host = (urlsplit(url).hostname or "").removeprefix("www.")
        text = " ".join(_NAME_CHARS.sub(" ", host).split()).strip(" _.-") or "feed"
    if len(text) > _MAX_NAME:
        cut = text[:_MAX_NAME]
        text = (cut.rsplit(" ", 1)[0] if " " in cut else cut).strip(" _.-")
    return text


def _unique_name(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    number = 2
    while True:
        suffix = f" {number}"
        candidate = name[:_MAX_NAME - len(suffix)].rstrip(" _.-") + suffix
        if candidate not in taken:
            return candidate
        number += 1


def _url_key(url: str) -> str:
    """Two URLs are the same feed when their canonical forms are (as feeds.yaml decides)."""
    return canonical_url(url) or url


def plan_import(opml: OpmlFile, config: Config | None) -> ImportPlan:
    """Which of the file's subscriptions to add to ``config`` (None: no feeds.yaml yet).

    A subscription listed several times (a reader that exports a feed once per folder) is
    one feed with the tags of every listing. One already configured at the same canonical
    URL is a duplicate; one whose name is a configured feed's at another URL is a conflict,
    left out (it may be that feed's new address: the user decides). Two new subscriptions
    sharing a name (two folders' "Top stories") get " 2", " 3" … added.
    """
    existing = config.feeds if config is not None else ()
    by_url = {_url_key(feed.url): feed for feed in existing}
    by_name = {feed.name: feed for feed in existing}
    merged_subs: dict[str, Subscription] = {}
    merged: list[str] = []
    for sub in opml.subscriptions:
        key = _url_key(sub.url)
        first = merged_subs.get(key)
        if first is None:
            merged_subs[key] = sub
            continue
        merged.append(f"{sub.name or sub.url!r} is listed more than once: one feed, "
                      "tags of every listing")
        merged_subs[key] = Subscription(
            name=first.name, url=first.url, site=first.site or sub.site,
            tags=_unique([*first.tags, *sub.tags]), language=first.language or sub.language)
    added: list[NewFeed] = []
    duplicates: list[NotImported] = []
    conflicts: list[NotImported] = []
    taken = set(by_name)
    for key, sub in merged_subs.items():
        if key in by_url:
            duplicates.append(NotImported(sub, f"already subscribed as {by_url[key].name!r}"))
            continue
        name = feed_name(sub.name, sub.url)
        if name in by_name:
            conflicts.append(NotImported(sub, (
                f"feeds.yaml has a feed {name!r} at another URL ({by_name[name].url}); "
                "not imported — if the feed moved, edit its url in feeds.yaml")))
            continue
        name = _unique_name(name, taken)
        taken.add(name)
        added.append(NewFeed(name=name, subscription=sub))
    return ImportPlan(added=tuple(added), duplicates=tuple(duplicates),
                      conflicts=tuple(conflicts), skipped=opml.skipped, merged=tuple(merged))


# -- writing feeds.yaml --------------------------------------------------------------------


_FEEDS_KEY = re.compile(r"^feeds\s*:\s*(?P<value>[^#]*?)\s*(?P<comment>#.*)?$")
_ITEM = re.compile(r"^(?P<indent>\s*)-(\s|$)")


def appended_config(text: str | None, new: Sequence[NewFeed], *, note: str = "",
                    source: str = "feeds.yaml") -> str:
    """The text of feeds.yaml with ``new`` appended to its ``feeds:`` list.

    Everything already in the file stays as written, byte for byte: the new entries go
    after the last entry of the list (before whatever follows it), indented like it, under
    a ``# note`` comment. ``text`` None (no file yet) starts a new file. The result is
    parsed with the project's config parser and must give the old feeds, then the new ones,
    with the settings unchanged; otherwise :class:`ConfigError` and nothing is to be written.
    """
    entries = [feed.entry() for feed in new]
    if text is None:
        header = "# SpaceWatch feeds (see README, \"Configuration: feeds.yaml\").\n"
        result = header + "feeds:\n" + _items(entries, "  ", note)
        before: Config | None = None
    else:
        before = parse_config(text, source=source)
        result = _append(text, entries, note, source)
    try:
        after = parse_config(result, source=source)
    except ConfigError as exc:
        raise ConfigError(f"{source}: the imported feeds would make it invalid ({exc}); "
                          "nothing was written") from None
    old = [feed.name for feed in before.feeds] if before is not None else []
    if [feed.name for feed in after.feeds] != old + [feed.name for feed in new] or (
            before is not None and after.settings != before.settings):
        raise ConfigError(f"{source}: could not append the imported feeds to its 'feeds:' "
                          "list safely; nothing was written (add them by hand: --dry-run "
                          "shows the YAML)")
    return result


def entries_yaml(new: Sequence[NewFeed], indent: str = "  ", note: str = "") -> str:
    """The feeds.yaml list entries for ``new`` (what :func:`appended_config` inserts, and
    what a user pastes by hand where it cannot)."""
    return _items([feed.entry() for feed in new], indent, note)


def _items(entries: Sequence[dict[str, Any]], indent: str, note: str) -> str:
    lines = [f"{indent}# {note}"] if note else []
    for entry in entries:
        dumped = yaml.safe_dump([entry], default_flow_style=None, allow_unicode=True,
                                sort_keys=False, width=4096)
        lines += [indent + line for line in dumped.splitlines()]
    return "\n".join(lines) + "\n"


def _append(text: str, entries: Sequence[dict[str, Any]], note: str, source: str) -> str:
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _FEEDS_KEY.match(line.rstrip("\r\n"))),
                 None)
    if start is None:
        raise ConfigError(f"{source}: no 'feeds:' line at the start of a line to append to; "
                          "nothing was written (add the feeds by hand: --dry-run shows them)")
    key = _FEEDS_KEY.match(lines[start].rstrip("\r\n"))
    assert key is not None
    value = key.group("value")
    if value == "[]":  # an empty flow list: becomes a block list
        comment = f"  {key.group('comment')}" if key.group("comment") else ""
        newline = "\r\n" if lines[start].endswith("\r\n") else "\n"
        block = _items(entries, "  ", note).replace("\n", newline)
        return "".join(lines[:start]) + f"feeds:{comment}{newline}" + block + \
            "".join(lines[start + 1:])
    if value:
        raise ConfigError(f"{source}: its feeds list is written on one line ({value[:40]}…); "
                          "nothing was written (write it as a block list, one '- name:' per "
                          "feed, or add the feeds by hand: --dry-run shows them)")
    last = start  # the last line that belongs to the list
    indent: str | None = None
    for i in range(start + 1, len(lines)):
        line = lines[i].rstrip("\r\n")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] not in " \t-" or line.startswith(("---", "...")):
            break  # the next top-level key (or document)
        item = _ITEM.match(line)
        if item is not None and indent is None:
            indent = item.group("indent")
        last = i
    end = last + 1
    newline = "\r\n" if lines[start].endswith("\r\n") else "\n"
    block = _items(entries, indent if indent is not None else "  ", note).replace("\n", newline)
    head = "".join(lines[:end])
    if head and not head.endswith("\n"):
        head += newline
    return head + block + "".join(lines[end:])


def replace_config(path: Path, text: str) -> Path | None:
    """Write ``text`` to ``path`` atomically (a temporary file beside it, then a rename),
    keeping the previous file as ``<path>.bak`` with its permissions; returns the backup's
    path (None when there was no file)."""
    backup: Path | None = None
    mode = 0o644
    try:
        if path.exists():
            backup = path.with_name(path.name + ".bak")
            shutil.copy2(path, backup)
            mode = path.stat().st_mode & 0o7777
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                    dir=path.parent if str(path.parent) else ".")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the configuration: "
                          f"{exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write the configuration: "
                          f"{exc.strerror or exc}") from None
    return backup


# -- exporting -----------------------------------------------------------------------------


def write_opml(feeds: Sequence[Feed], *, title: str = "SpaceWatch feeds",
               created: datetime | None = None) -> bytes:
    """The feeds as an OPML 2.0 document: a feed sits in the folder of its first tag, and
    a feed with several tags lists them all in ``category`` (``/press,/policy``), so an
    import gives back the same tags in the same order. Disabled feeds are exported too."""
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = title
    if created is not None:
        ET.SubElement(head, "dateCreated").text = format_datetime(created)
    body = ET.SubElement(opml, "body")
    folders: dict[str, ET.Element] = {}
    for feed in feeds:
        parent = body
        if feed.tags:
            parent = folders.get(feed.tags[0]) or ET.SubElement(
                body, "outline", text=feed.tags[0], title=feed.tags[0])
            folders[feed.tags[0]] = parent
        attrs = {"type": "rss", "text": feed.name, "title": feed.name, "xmlUrl": feed.url}
        if feed.site:
            attrs["htmlUrl"] = feed.site
        if feed.language:
            attrs["language"] = feed.language
        if len(feed.tags) > 1:
            attrs["category"] = ",".join(f"/{tag}" for tag in feed.tags)
        ET.SubElement(parent, "outline", attrs)
    ET.indent(opml, space="  ")
    data: bytes = ET.tostring(opml, encoding="utf-8", xml_declaration=True)
    return data + b"\n"

