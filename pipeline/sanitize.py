"""Text and URLs as they enter SpaceWatch: invisible control characters out, URLs canonical.

Every piece of outside text (feed titles, summaries and authors, page text, imported
records) passes through :func:`clean_text` once, where it enters, so nothing downstream (the
database, the terminal, the digest) ever sees a character that changes how the text around
it is displayed without being visible itself.

The rule (README, "What SpaceWatch keeps of feed text"):

- Every Unicode *format* character (category Cf) is removed: the bidirectional embeddings,
  overrides and isolates (U+202A–U+202E, U+2066–U+2069) that can show a title reversed, the
  marks U+200E/U+200F/U+061C, zero-width space U+200B, word joiner and invisible operators
  (U+2060–U+2064), the byte-order mark U+FEFF, the soft hyphen U+00AD, tag characters …
- Except the zero-width non-joiner and joiner (U+200C, U+200D) *between two letters of a
  script that uses them* (Persian, Arabic, the Indic scripts …) or between two symbols (emoji
  sequences such as 👩‍🚀): there they are part of the spelling. Between Latin letters or at a
  word's edge they only hide a word from search and entity matching, and are removed.
- C0 and C1 control characters (terminal escapes among them) are removed, except tab and
  line feed; a carriage return is dropped (``\\r\\n`` becomes ``\\n``).

In a URL the same characters are percent-encoded rather than removed
(:func:`canonical_url`): the link still leads where it led, and cannot display reversed.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

#: Unicode format characters (category Cf, Unicode 14), without U+200C/U+200D (see below).
#: tests/test_normalize.py checks this against the running Python's Unicode database.
_FORMAT = ("\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f"
           "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
           "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
           "\U000e0020-\U000e007f")
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f"
_INVISIBLE = re.compile(f"[{_FORMAT}{_CONTROLS}]")
_JOINER = re.compile("[\u200c\u200d]")
_IN_URL = re.compile(f"[{_FORMAT}{_CONTROLS}\u200c\u200d]")

#: Query parameters that only track the reader; dropped from canonical URLs.
TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|yclid|_hsenc|_hsmi|"
    r"mkt_tok|igshid|ref_src|cmpid|ncid|sr_share)$", re.I)


def _joins_letters(before: str, after: str) -> bool:
    """Whether a joiner between these two characters is part of the spelling."""
    if not before or not after:
        return False
    kinds = unicodedata.category(before)[0] + unicodedata.category(after)[0]
    if kinds == "SS":  # emoji and other symbol sequences
        return True
    letters = all(k in "LM" for k in kinds)
    # Latin, Greek and Cyrillic words have no use for joiners.
    return letters and (ord(before) > 0x052F or ord(after) > 0x052F)


def _keep_joiner(match: re.Match[str]) -> str:
    text, i = match.string, match.start()
    before = text[i - 1] if i else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    return match.group() if _joins_letters(before, after) else ""


def clean_text(text: str) -> str:
    """``text`` without invisible format and control characters (the rule above)."""
    if not text:
        return text
    text = _INVISIBLE.sub("", text)
    if "\u200c" in text or "\u200d" in text:
        text = _JOINER.sub(_keep_joiner, text)
    return text


def canonical_url(url: str | None, max_length: int = 1024) -> str | None:
    """A canonical http(s) URL, or None for anything else (javascript:, data:, too long).

    Scheme and host are lower-cased, a default port and the fragment dropped, tracking
    parameters removed, and invisible characters percent-encoded.
    """
    if not url or not isinstance(url, str):
        return None
    url = url.strip()
    if len(url) > max_length or any(c in url for c in "\x00\r\n\t "):
        return None
    url = _IN_URL.sub(lambda m: quote(m.group(), safe=""), url)
    if len(url) > max_length:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    if parts.username or parts.password:
        return None
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not TRACKING_PARAMS.match(k)])
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, query, ""))
