"""User input for ``analyze`` and ``import``: bytes to text, and JSONL lines to records.

The encoding is settled here, at the border: a byte-order mark means UTF-8 (the mark is
dropped, so it cannot hide the first word), UTF-16 or UTF-32; without one the input must be
UTF-8. Binary data is refused with one line that names the input.
"""

from __future__ import annotations

import codecs
import io
import json
import sys
from collections.abc import Iterator
from typing import IO, Any

from .errors import InputError

#: Byte-order marks, longest first (the UTF-32 LE mark begins with the UTF-16 LE one).
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"))
#: JSON's names for the Python types json.loads returns.
JSON_TYPES = {bool: "true/false", int: "a number", float: "a number", str: "a string",
              list: "an array", dict: "an object", type(None): "null"}

Line = tuple[int, dict[str, Any] | None, str | None]


def bom_encoding(head: bytes) -> str | None:
    """The encoding a byte-order mark at the start of ``head`` announces, or None."""
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return encoding
    return None


def _not_text(name: str, data: bytes, exc: UnicodeDecodeError | None = None) -> InputError:
    """The one-line error for input that is not UTF-8 text."""
    sample = data[:200]
    if sample.count(b"\x00") * 4 >= len(sample) > 0:
        why = "looks like UTF-16 without a byte-order mark"
    elif b"\x00" in sample or exc is None:
        why = "binary data"
    else:
        why = f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8"
    return InputError(f"{name}: not UTF-8 text ({why}); save it as UTF-8 (or UTF-16 with a "
                      "byte-order mark)")


def decode_text(data: bytes, name: str) -> str:
    """Input bytes as text: by byte-order mark, else strict UTF-8; NUL bytes mean binary."""
    encoding = bom_encoding(data[:4])
    if encoding is not None:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            raise InputError(f"{name}: starts with a {encoding} byte-order mark but is not "
                             f"valid {encoding} text") from None
    if b"\x00" in data:
        raise _not_text(name, data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_text(name, data, exc) from None


def check_record(record: Any) -> str | None:
    """Why a parsed JSONL value cannot be used as an article, or None when it can."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {JSON_TYPES.get(type(record), 'something else')}"
    if "text" not in record:
        return "no 'text' field"
    text = record["text"]
    if not isinstance(text, str):
        return f"'text' must be a string, got {JSON_TYPES.get(type(text), 'something else')}"
    if not text.strip():
        return "'text' is empty"
    return None


def parse_line(number: int, line: str) -> Line:
    """One JSONL line -> (line number, record or None, error or None)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return number, None, f"not JSON ({exc.msg})"
    error = check_record(record)
    return (number, None, error) if error else (number, record, None)


def read_jsonl(path: str) -> Iterator[Line]:
    """(line number, record or None, error or None) for each non-blank line of a JSONL file
    (``-``: stdin). Raises :class:`InputError` when the input is not text at all."""
    name = "<stdin>" if path == "-" else path
    try:
        stream: IO[bytes] = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        head = stream.peek(4)[:4] if isinstance(stream, io.BufferedReader) else b""
        encoding = bom_encoding(head)
        if encoding in ("utf-16", "utf-32"):
            yield from _read_wide(stream, encoding, name)
        else:
            yield from _read_utf8(stream, name)
    finally:
        if path != "-":
            stream.close()


def _read_wide(stream: IO[bytes], encoding: str, name: str) -> Iterator[Line]:
    """Lines of a UTF-16/UTF-32 file (the byte-order mark tells which)."""
    text = io.TextIOWrapper(stream, encoding=encoding, errors="strict")
    number = 0
    try:
        for number, line in enumerate(text, start=1):
            if line.strip():
                yield parse_line(number, line)
    except UnicodeDecodeError:
        raise InputError(f"{name}: line {number + 1} is not valid {encoding} text") from None
    finally:
        text.detach()


def _read_utf8(stream: IO[bytes], name: str) -> Iterator[Line]:
    """Lines of a UTF-8 file; a bad line is reported and skipped, but a file whose first
    line is not text is refused whole (it is binary, not a JSONL file with one bad line)."""
    first = True
    for number, raw in enumerate(stream, start=1):
        if first:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        if not raw.strip():
            continue
        try:
            if b"\x00" in raw:
                raise UnicodeDecodeError("utf-8", raw, raw.index(b"\x00"),
                                         raw.index(b"\x00") + 1, "NUL byte")
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if first:
                raise _not_text(name, raw, exc) from None
            what = "a NUL byte" if exc.reason == "NUL byte" else f"byte 0x{raw[exc.start]:02x}"
            yield number, None, f"not UTF-8 text ({what} at column {exc.start + 1})"
            continue
        first = False
        yield parse_line(number, line)
