"""Seeds from a source: ``spacewatch seeds add URL|FILE|--story ID`` ("follow this").

A source — an article page (fetched with the :class:`~pipeline.fetch.Fetcher` and extracted
like full text), a local text, Markdown or HTML file, or a stored story — becomes a
:class:`SourceText`; the analyzer's canonical entities in it become entity boosts; the
result is a :class:`SeedDraft`, written as ``NNN_<id>.md`` in the seeds folder in the
format :mod:`pipeline.seeds` reads (YAML front matter, then the text).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from .config import Settings
from .errors import ConfigError, InputError
from .extract import extract_page, page_published
from .fetch import Fetcher, FetchResult
from .inputs import decode_text
from .match import KIND_WEIGHT
from .records import OK, PLACE_KINDS, Mention, slug
from .store.seed_sources import StorySource

#: A seed needs this many words of text (as :func:`pipeline.seeds.load_seed` checks).
MIN_SEED_WORDS = 20
#: How many entities become boosts, and their weights by rank (the founding seed's range).
BOOST_WEIGHTS = (2.0, 2.0, 1.5, 1.5, 1.3, 1.3)
#: Longest derived seed id (cut at a hyphen).
MAX_ID_LENGTH = 40
#: Titles of a story's other articles added under its first report.
MAX_STORY_TITLES = 30
_HTML_SUFFIXES = (".html", ".htm", ".xhtml")
_HTML_START = re.compile(r"\s*<(?:!doctype\s+html|html|head|body|article)\b", re.I)
_NUMBERED = re.compile(r"^(\d+)_")


@dataclass(frozen=True)
class SourceText:
    """What a source gives a seed: its title, text, publication date and where it is from."""

    title: str
    text: str
    date: str | None = None  # YYYY-MM-DD
    url: str | None = None
    source_file: str | None = None
    #: One line for the seed file's comment: where the seed came from.
    origin: str = ""


@dataclass(frozen=True)
class SeedDraft:
    """A seed file about to be written."""

    id: str
    title: str
    text: str
    date: str | None = None
    url: str | None = None
    source_file: str | None = None
    origin: str = ""
    entities: dict[str, float] = field(default_factory=dict)

    def render(self) -> str:
        """The file's content: YAML front matter (keys :func:`pipeline.seeds.load_seed`
        allows), a comment saying where the seed came from, then the text."""
        meta: dict[str, object] = {"id": self.id, "title": self.title}
        for key, value in (("date", self.date), ("url", self.url),
                           ("source_file", self.source_file)):
            if value:
                meta[key] = value
        if self.entities:
            meta["boosts"] = {"entities": dict(self.entities)}
        head = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=10_000)
        comment = f"# {' '.join(self.origin.split())}\n" if self.origin else ""
        return f"---\n{comment}{head}---\n{self.text.strip()}\n"


# -- sources -------------------------------------------------------------------------------


def is_url(source: str) -> bool:
    """Whether ``seeds add SOURCE`` names a web page rather than a file."""
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", source, re.I))


def text_from_url(url: str, settings: Settings, fetcher: Fetcher | None = None) -> SourceText:
    """The article at ``url``, fetched with the project's limits (private addresses only when
    listed in ``allow_private_hosts``) and extracted like full text; :class:`InputError`
    says why not in one line."""
    try:
        parts = urlsplit(url)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 -- a bad port raises here
    except ValueError:  # "Invalid IPv6 URL", a port out of range
        valid = False
    if not valid:
        raise InputError(f"{url}: not a valid http(s) URL")
    own = fetcher is None
    fetcher = fetcher or Fetcher(settings)
    try:
        result = fetcher.get(url, accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.1")
    finally:
        if own:
            fetcher.close()
    page = extract_page(url, result)
    if not page.ok:
        raise InputError(f"{url}: {_fetch_problem(result, page.error or 'fetch failed')}")
    title = page.title or _first_title(page.text)
    return SourceText(title=title, text=page.text, date=_day(page.published_at),
                      url=page.final_url or url, origin=f"from the page {url}")


def _fetch_problem(result: FetchResult, error: str) -> str:
    """One line: why a page gave no seed."""
    if error == "not html":
        kind = result.content_type.split(";")[0].strip() or "unknown"
        return f"not an HTML page (content type {kind})"
    if error == "empty extraction":
        return "no article text found on the page (empty extraction)"
    if error == "blocked address":
        return (f"cannot fetch: {result.detail or error} (list the host in settings."
                "allow_private_hosts in feeds.yaml to allow it)")
    if error.startswith("http "):
        return f"cannot fetch: the server answered {error.upper()}"
    detail = f" ({result.detail})" if result.detail and result.detail != error else ""
    return f"cannot fetch: {error}{detail}"


def text_from_file(path: str | Path) -> SourceText:
    """A local text, Markdown or HTML file (UTF-8, or any byte-order-marked encoding, as
    for ``analyze``/``import``); HTML is extracted like a fetched page. A Markdown file's
    own front matter gives the title, date and URL it states."""
    path = Path(path)
    name = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a folder, not a file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None
    raw = decode_text(data, name)
    where = str(path.resolve())
    if path.suffix.lower() in _HTML_SUFFIXES or _HTML_START.match(raw[:500]):
        result = FetchResult(url=path.resolve().as_uri(), outcome=OK, status=200,
                             body=raw.encode("utf-8"),
                             content_type="text/html; charset=utf-8")
        page = extract_page(result.url, result)
        if not page.ok:
            raise InputError(f"{name}: no article text found in the HTML (empty extraction)")
        return SourceText(title=page.title or _first_title(page.text), text=page.text,
                          date=_day(page_published(raw)), source_file=where,
                          origin=f"from the file {where}")
    meta, text = _split_front_matter(raw)
    text = text.strip()
    if len(text.split()) < MIN_SEED_WORDS:
        raise InputError(f"{name}: too little text for a seed (at least {MIN_SEED_WORDS} "
                         "words; empty extraction)")
    title = str(meta.get("title") or "").strip() or _first_title(text)
    return SourceText(title=title, text=text, date=_day(str(meta.get("date") or "")),
                      url=str(meta.get("url") or "") or None, source_file=where,
                      origin=f"from the file {where}")


def text_from_story(source: StorySource | None, story_id: int) -> SourceText:
    """A story's representative headline, its first report's text and its other articles'
    titles (``source`` from :func:`pipeline.store.seed_sources.story_source`)."""
    if source is None:
        raise InputError(f"no story with id {story_id} (spacewatch story list shows them)")
    if not source.articles:
        raise InputError(f"story {story_id} has no articles")
    first = source.articles[0]
    seen = {" ".join(first.title.split()).lower(), " ".join(source.headline.split()).lower()}
    titles: list[str] = []
    for article in source.articles[1:]:
        key = " ".join(article.title.split()).lower()
        if key and key not in seen and len(titles) < MAX_STORY_TITLES:
            seen.add(key)
            titles.append(" ".join(article.title.split()))
    text = "\n\n".join(part for part in (first.text.strip(), "\n".join(titles)) if part)
    if len(text.split()) < MIN_SEED_WORDS:
        raise InputError(f"story {story_id}: too little text for a seed (at least "
                         f"{MIN_SEED_WORDS} words)")
    merged = (f" (story {source.merged_from} was merged into it)"
              if source.merged_from is not None else "")
    return SourceText(title=source.headline.strip() or first.title.strip() or
                      _first_title(text), text=text, date=_day(first.published_at),
                      url=first.url, origin=f"from story {source.story_id}{merged}: "
                                            f"{len(source.articles)} articles")


# -- entities ------------------------------------------------------------------------------


def seed_entities(mentions: Sequence[Mention], limit: int = len(BOOST_WEIGHTS)
                  ) -> dict[str, float]:
    """Entity boosts for a new seed: the canonical entities the text names most (ties go
    to the kind the matcher weighs more; places and countries say little about a story and
    are left out), weighted by rank."""
    counts = Counter(m.entity_id for m in mentions if m.kind not in PLACE_KINDS)
    kinds = {m.entity_id: m.kind for m in mentions}
    ranked = sorted(counts, key=lambda eid: (-counts[eid], -KIND_WEIGHT.get(kinds[eid], 0.5),
                                             eid))
    return {eid: BOOST_WEIGHTS[min(i, len(BOOST_WEIGHTS) - 1)]
            for i, eid in enumerate(ranked[:limit])}


# -- the file ------------------------------------------------------------------------------


def check_id(seed_id: str) -> str:
    """A seed id given by the user: lowercase letters, digits and hyphens."""
    if not seed_id or slug(seed_id) != seed_id:
        raise InputError(f"--id {seed_id!r}: use lowercase letters, digits and hyphens "
                         f"(e.g. {slug(seed_id) or 'iss-talks'!r})")
    return seed_id


def plan_seed(source: SourceText, folder: Path, entities: dict[str, float], *,
              seed_id: str | None = None, title: str | None = None,
              force: bool = False) -> tuple[SeedDraft, Path]:
    """The draft and the file it goes to.

    The id is ``seed_id`` or the title's slug. When a seed in ``folder`` already uses it:
    ``force`` replaces that seed's file; otherwise a given id is refused
    (:class:`InputError`) and a derived one gets a suffix (``-2``, ``-3``, …). A seed from
    the same source (``url`` or ``source_file``) is refused, or replaced with ``force``,
    unless ``seed_id`` asks for another seed."""
    title = " ".join((title or source.title).split()) or _first_title(source.text)
    existing = _seeds_in(folder)
    used: dict[str, str] = {}
    for sid, file, _sources in existing:
        used.setdefault(sid, file)
    mine = {s for s in (source.url, source.source_file) if s}
    same = next(((sid, file) for sid, file, sources in existing if sources & mine), None)
    if same is not None and seed_id is None:
        if not force:
            raise InputError(f"{same[1]} is already a seed from this source (--force "
                             "replaces it; --id ID adds another)")
        seed_id = same[0]
    if seed_id is not None:
        chosen = check_id(seed_id)
        if chosen in used and not force:
            raise InputError(f"seed id {chosen!r} is already used by {used[chosen]} "
                             "(--force replaces it; or choose another --id)")
    else:
        base = _short(slug(title)) or "seed"
        chosen = base
        number = 2
        while chosen in used and not force:
            chosen, number = f"{base}-{number}", number + 1
    path = Path(used[chosen]) if chosen in used else folder / (
        f"{_next_number(folder):03d}_{chosen.replace('-', '_')}.md")
    draft = SeedDraft(id=chosen, title=title, text=source.text, date=source.date,
                      url=source.url, source_file=source.source_file, origin=source.origin,
                      entities=entities)
    return draft, path


def check_folder(folder: Path) -> None:
    """Make sure seeds can be written to ``folder`` (created when missing), before any
    page is fetched or text analysed; :class:`ConfigError` names the folder."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"seeds folder {folder} is not a folder (settings.seeds_dir)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"seeds folder {folder} cannot be created: "
                          f"{exc.strerror or exc}") from None
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".spacewatch-", suffix=".tmp"):
            pass
    except OSError as exc:
        raise ConfigError(f"seeds folder {folder} is not writable: "
                          f"{exc.strerror or exc}") from None


def write_seed(draft: SeedDraft, path: Path) -> None:
    """Write the seed file whole (a temporary file renamed over it, so the daemon never
    reads half a seed)."""
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".spacewatch-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(draft.render())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


# -- helpers -------------------------------------------------------------------------------


def _seeds_in(folder: Path) -> list[tuple[str, str, set[str]]]:
    """(id, file, sources) of every seed file in ``folder``, valid or not: the id from its
    front matter, else its file name's slug (as :func:`pipeline.seeds.load_seed` reads it);
    the sources are its ``url`` and ``source_file``."""
    found = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else ():
        if path.suffix.lower() not in (".md", ".txt") or path.name.startswith("."):
            continue
        try:
            meta, _text = _split_front_matter(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            meta = {}
        sources = {str(meta[k]) for k in ("url", "source_file") if meta.get(k)}
        found.append((str(meta.get("id") or slug(path.stem)), str(path), sources))
    return found


def _next_number(folder: Path) -> int:
    """One more than the highest ``NNN_`` prefix of the folder's files (0 in none)."""
    numbers = [int(m.group(1)) for p in (folder.iterdir() if folder.is_dir() else ())
               if (m := _NUMBERED.match(p.name))]
    return max(numbers, default=-1) + 1


def _split_front_matter(raw: str) -> tuple[dict[str, object], str]:
    """A Markdown file's YAML front matter (a mapping, else none) and the text after it."""
    text = raw.strip()
    match = re.match(r"^-{3,}\s*\n(.*?)\n-{3,}\s*(?:\n|$)", text, re.S)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}, text
    return (meta if isinstance(meta, dict) else {}), text[match.end():]


def _first_title(text: str) -> str:
    """The first line of four words or more (Markdown heading marks dropped)."""
    lines = [ln.strip().lstrip("#").strip() for ln in text.splitlines() if ln.strip()]
    return next((ln for ln in lines if len(ln.split()) >= 4), lines[0] if lines else "")[:200]


def _day(value: str | None) -> str | None:
    """YYYY-MM-DD (or a stated YYYY-MM) from an ISO date or timestamp."""
    if not value:
        return None
    match = re.match(r"^(\d{4}-\d{2}(?:-\d{2})?)", value.strip())
    return match.group(1) if match else None


def _short(seed_id: str) -> str:
    """The id cut to :data:`MAX_ID_LENGTH` at a hyphen."""
    if len(seed_id) <= MAX_ID_LENGTH:
        return seed_id
    cut = seed_id[:MAX_ID_LENGTH]
    return cut.rsplit("-", 1)[0] if "-" in cut else cut
