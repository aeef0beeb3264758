# feedparser 6 ships no type information. parse() returns a FeedParserDict: a dict whose
# values are whatever the feed held (strings, lists of dicts, time.struct_time, the bozo
# exception), so the values stay Any here; pipeline/normalize.py reads them into Article
# records at the border and nothing past it sees a FeedParserDict.
from typing import IO, Any

class FeedParserDict(dict[str, Any]):
    def __getattr__(self, key: str) -> Any: ...

def parse(
    url_file_stream_or_string: bytes | str | IO[bytes] | IO[str],
    etag: str | None = None,
    modified: str | None = None,
    agent: str | None = None,
    referrer: str | None = None,
    handlers: list[Any] | None = None,
    request_headers: dict[str, str] | None = None,
    response_headers: dict[str, str] | None = None,
    resolve_relative_uris: bool | None = None,
    sanitize_html: bool | None = None,
) -> FeedParserDict: ...
