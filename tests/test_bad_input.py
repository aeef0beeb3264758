"""Damaged databases, unwritable output and odd input end in one clear line (issue 11.7)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main
from pipeline.store import Store, damaged_db_message

COMMANDS = [["init"], ["status"], ["fetch"], ["digest"], ["entities"], ["reprocess"],
            ["rematch"], ["explain", "1"], ["seeds"], ["import", "ARTICLES"], ["analyze"],
            ["query", "select count(*) from articles"]]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str],
             stdin: str | bytes = "") -> tuple[int, str, str]:
    """Run the real entry point (as the console script does): exit code, stdout, stderr."""
    import io
    import sys

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["spacewatch", *argv])
        raw = stdin.encode() if isinstance(stdin, str) else stdin
        mp.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
        try:
            main()
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        else:
            code = 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(11).randbytes(8192))


def garbage_pages(path: Path) -> None:
    """A real database whose header, schema and migration record are intact but whose
    other pages are garbage: it opens, and fails on the first query that reads data."""
    with Store(path) as store, store.transaction() as conn:
        conn.execute("INSERT INTO feeds (name, url, created_at) VALUES "
                     "('a', 'http://127.0.0.1:1/a', '2026-01-01T00:00:00Z')")
        for n in range(50):
            conn.execute("INSERT INTO articles (guid, title, text, published_at, fetched_at, "
                         "content_hash) VALUES (?, ?, ?, '2026-01-01T00:00:00Z', "
                         "'2026-01-01T00:00:00Z', ?)", (f"g{n}", f"title {n}", "x " * 400,
                                                        f"h{n}"))
    with Store(path) as store:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        keep = {r[0] for r in store.conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'sqlite_schema' OR name IN (SELECT name "
            "FROM sqlite_schema WHERE tbl_name = '_sqlite_migrations')")}
        pages = store.scalar("PRAGMA page_count")
        page_size = store.scalar("PRAGMA page_size")
    data = bytearray(path.read_bytes())
    noise = random.Random(5)
    for page in range(2, pages + 1):
        if page not in keep:
            data[(page - 1) * page_size:page * page_size] = noise.randbytes(page_size)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [random_bytes, garbage_pages])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_damaged_database_is_one_line_naming_the_file_and_the_recovery(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: object,
        command: list[str]) -> None:
    db = tmp_path / "t.db"
    damage(db)  # type: ignore[operator]
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n  - {name: a, url: 'http://127.0.0.1:1/a'}\n"
                      "settings: {full_text: false}\n")
    articles = tmp_path / "a.jsonl"
    articles.write_text(json.dumps({"id": "x", "text": "NASA and Roscosmos met."}) + "\n")
    argv = ["--db", str(db), "--config", str(config),
            *[str(articles) if a == "ARTICLES" else a for a in command]]
    code, _out, err = run_main(argv, capsys, stdin="NASA met Roscosmos.")
    assert code == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[-1] == f"error: {damaged_db_message(db)}", err
    assert "\".recover\"" in lines[-1] and str(db) in lines[-1]


def test_damaged_message_quotes_a_path_with_spaces() -> None:
    message = damaged_db_message("/data/my db.db")
    assert "sqlite3 '/data/my db.db' \".recover\" | sqlite3 '/data/my db.db.recovered'" in message


def test_digest_out_into_a_missing_folder_names_the_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Store(tmp_path / "t.db").close()
    target = tmp_path / "nope" / "d.md"
    code, _out, err = run_main(["--db", str(tmp_path / "t.db"), "--config",
                                str(tmp_path / "none.yaml"), "digest", "--out", str(target)],
                               capsys)
    assert code == 2
    assert err.strip() == (f"error: --out {target}: the folder {target.parent} does not exist "
                           "(create it first)")
    assert not target.parent.exists()


# -- analyze: encodings, BOMs, binary input, the size limit -------------------------------

TEXT = "Roscosmos chief Dmitry Bakanov met NASA in Houston. Роскосмос и НАСА обсудили полёты."


@pytest.fixture
def analyze(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> object:
    """Run ``analyze`` on raw bytes (stdin, or a --jsonl file): exit code, stdout, and the
    stderr lines that are not warnings about the (empty) seeds folder."""

    def run(data: bytes, *, jsonl: bool = False, settings: str = "") -> tuple[int, str, str]:
        code, out, err = _analyze(tmp_path, capsys, data, jsonl=jsonl, settings=settings)
        return code, out, "".join(ln for ln in err.splitlines(keepends=True)
                                  if not ln.startswith("warning:"))

    return run


def _analyze(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, *,
             jsonl: bool = False, settings: str = "") -> tuple[int, str, str]:
    config = tmp_path / "feeds.yaml"
    config.write_text(f"feeds: []\nsettings: {{seeds_dir: none{settings}}}\n")
    args = ["--db", str(tmp_path / "none.db"), "--config", str(config), "analyze"]
    if jsonl:
        (tmp_path / "in.jsonl").write_bytes(data)
        args += ["--jsonl", str(tmp_path / "in.jsonl")]
    return run_main(args, capsys, stdin=b"" if jsonl else data)


def first_entities(stdout: str) -> list[str]:
    return [e["name"] for e in json.loads(stdout.splitlines()[0])["entities"]]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_analyze_reads_text_with_a_byte_order_mark(analyze: Any, encoding: str) -> None:
    data = TEXT.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    code, out, err = analyze(data)
    assert code == 0, err
    plain_code, plain_out, _ = analyze(TEXT.encode("utf-8"))
    assert first_entities(out) == first_entities(plain_out)
    assert "Roscosmos" in first_entities(out)  # the mark hides no entity


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_analyze_jsonl_with_a_byte_order_mark_reads_its_first_line(analyze: Any,
                                                                   encoding: str) -> None:
    lines = "".join(json.dumps({"id": i, "text": TEXT}, ensure_ascii=False) + "\n"
                    for i in (1, 2))
    code, out, err = analyze(lines.encode(encoding), jsonl=True)
    assert code == 0, err
    assert [json.loads(ln)["id"] for ln in out.splitlines()] == [1, 2]


def test_analyze_prints_non_ascii_as_utf8_not_escapes(analyze: Any) -> None:
    code, out, _err = analyze(TEXT.encode())
    assert code == 0
    assert "\\u" not in out
    # (the model may or may not tag the Russian words; the surface text must be raw UTF-8)
    assert all(ord(ch) < 128 or ch.isalpha() or ch in "ё«»—–…’“”" for ch in out)


@pytest.mark.parametrize(("data", "why"), [
    (random.Random(3).randbytes(8192), "not UTF-8 text"),
    (TEXT.encode("utf-16-le"), "looks like UTF-16 without a byte-order mark"),
    (b"caf\xe9 au lait with NASA", "byte 0xe9 at offset 3 is not UTF-8"),
])
@pytest.mark.parametrize("jsonl", [False, True])
def test_analyze_refuses_binary_or_unmarked_utf16_input_in_one_line(
        analyze: Any, data: bytes, why: str, jsonl: bool) -> None:
    if jsonl and why.startswith("byte"):
        data = b'{"text": "caf\xe9"}\n'
        why = "byte 0xe9"
    code, out, err = analyze(data, jsonl=jsonl)
    assert code == 2, (code, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and why in err, err
    assert "Traceback" not in err


def test_analyze_jsonl_bad_line_after_good_ones_is_reported_and_the_rest_kept(
        analyze: Any) -> None:
    data = (json.dumps({"id": 1, "text": TEXT}).encode() + b"\n"
            + b'{"id": 2, "text": "caf\xe9"}\n' + json.dumps({"id": 3, "text": TEXT}).encode())
    code, out, err = analyze(data, jsonl=True)
    assert code == 1
    assert [json.loads(ln)["id"] for ln in out.splitlines()] == [1, 3]
    assert err.strip() == "line 2: not UTF-8 text (byte 0xe9 at column 23)"


def test_analyze_says_when_input_is_cut_to_the_size_limit(analyze: Any) -> None:
    text = (TEXT + " ") * 40
    code, _out, err = analyze(text.encode(), settings=", nlp_max_chars: 1000")
    assert code == 0
    assert err.strip() == (f"input: only the first 1,000 of {len(text):,} characters were "
                           "analysed (settings.nlp_max_chars)")
    short_code, _o, short_err = analyze(TEXT.encode())
    assert short_code == 0 and "only the first" not in short_err


def test_non_ascii_is_printed_as_utf8_under_an_ascii_locale(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    Store(tmp_path / "t.db").close()
    env = dict(os.environ, PYTHONIOENCODING="ascii")
    done = subprocess.run([sys.executable, "-m", "pipeline", "--db", str(tmp_path / "t.db"),
                           "query", "select 'Роскосмос' as t"], capture_output=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert "Роскосмос".encode() in done.stdout
    assert b"\\u" not in done.stdout
