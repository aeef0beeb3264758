"""`spacewatch seeds add URL|FILE|--story ID`: "follow this" is one command (issue 14.4).

Every test runs the console script in-process (the ``run`` fixture), so the analyzer is
loaded once for the whole module (``get_analyzer`` keeps it).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from pipeline.seeds import load_seeds
from pipeline.store import Store

from .conftest import Runner
from .httpserver import LocalServer, Reply

BODY = ("Roscosmos head Dmitry Bakanov and acting NASA Administrator Sean Duffy agreed in "
        "Houston to extend the cross-flight program through 2027. Cosmonaut Oleg Platonov "
        "will fly on Crew-11 aboard Crew Dragon, and an American astronaut will ride a Soyuz. "
        "The agencies also discussed ISS deorbit plans and the extension of the "
        "International Space Station. Roscosmos said the agreement would be signed in Moscow.")
TITLE = "Roscosmos and NASA agree to extend cross-flights"
PAGE = f"""<!doctype html><html><head><title>{TITLE} | Space Wire</title>
<meta property="article:published_time" content="2025-07-20T08:00:00Z"></head>
<body><nav>Home | World | Space</nav><article><h1>{TITLE}</h1>
<p>{BODY}</p><p>{BODY.replace("2027", "2028")}</p></article>
<footer>(c) 2019-2025 Space Wire</footer></body></html>""".encode()
ARTICLE = {"id": "f1", "title": "Bakanov and Duffy agree to extend cross-flights",
           "text": BODY, "published": "2025-07-21T08:00:00Z"}


def project(tmp_path: Path, settings: str = "") -> Path:
    """A folder with feeds.yaml (optional settings lines) and an empty seeds/."""
    (tmp_path / "feeds.yaml").write_text(
        (f"settings:\n{settings}\n" if settings else "") + "feeds: []\n", encoding="utf-8")
    (tmp_path / "seeds").mkdir(exist_ok=True)
    return tmp_path


LOCAL = "  allow_private_hosts: ['127.0.0.1']"


def seed_files(folder: Path) -> list[Path]:
    return sorted((folder / "seeds").glob("*.md"))


def one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0, err
    return err


# -- sources --------------------------------------------------------------------------------


def test_seed_from_a_page_is_extracted_dated_and_boosts_its_canonical_entities(
        tmp_path: Path, run: Runner) -> None:
    folder = project(tmp_path, LOCAL)
    with LocalServer() as server:
        url = server.route("/a.html", Reply(PAGE, content_type="text/html; charset=utf-8"))
        code, out, err = run(folder, "seeds", "add", url)
    assert code == 0, err
    [path] = seed_files(folder)
    assert path.name.startswith("000_roscosmos_and_nasa")
    assert str(path) in out and "spacewatch rematch" in out
    loaded = load_seeds(folder / "seeds")
    assert loaded.problems == ()
    [seed] = loaded.seeds
    assert seed.title.startswith(TITLE)
    assert seed.url == url and seed.date == "2025-07-20"
    assert {"roscosmos", "dmitry-bakanov"} <= set(seed.entity_boosts)
    assert "Home | World" not in seed.text and "Oleg Platonov" in seed.text


def test_seed_from_a_utf16_text_file_takes_its_heading_as_title(
        tmp_path: Path, run: Runner) -> None:
    folder = project(tmp_path)
    source = tmp_path / "article.md"
    source.write_text(f"# {TITLE}\n\n{BODY}\n", encoding="utf-16")  # with a byte-order mark
    code, out, err = run(folder, "seeds", "add", str(source), "--id", "cross-flights-2027")
    assert code == 0, err
    [path] = seed_files(folder)
    assert path.name == "000_cross_flights_2027.md"
    [seed] = load_seeds(folder / "seeds").seeds
    assert (seed.id, seed.title) == ("cross-flights-2027", TITLE)
    assert "roscosmos" in seed.entity_boosts
    assert "source_file: " + str(source.resolve()) in path.read_text(encoding="utf-8")


def test_seed_from_a_local_html_file_is_extracted_like_a_page(
        tmp_path: Path, run: Runner) -> None:
    folder = project(tmp_path)
    (tmp_path / "saved.html").write_bytes(PAGE)
    code, out, err = run(folder, "seeds", "add", str(tmp_path / "saved.html"), "--dry-run")
    assert code == 0, err
    assert "date: '2025-07-20'" in out and "Oleg Platonov" in out
    assert "Home | World" not in out and "<p>" not in out


def test_seed_from_a_story_has_its_headline_first_report_and_other_titles(
        tmp_path: Path, run: Runner) -> None:
    folder = project(tmp_path)
    with Store(folder / "sw.db") as store:
        for n, (title, text, published) in enumerate([
                ("Roscosmos chief visits NASA", BODY, "2025-07-15T09:00:00Z"),
                ("Bakanov tours Johnson Space Center", "Short wire copy.", "2025-07-16T09:00:00Z"),
                ("Баканов встретился с Даффи", "Короткая заметка.", "2025-07-16T10:00:00Z")],
                start=1):
            store.db["articles"].insert({
                "id": n, "url": f"https://example.org/{n}", "guid": str(n), "title": title,
                "text": text, "published_at": published, "fetched_at": published,
                "content_hash": str(n)})
        store.db["stories"].insert({
            "id": 7, "headline": "Roscosmos chief Bakanov visits NASA",
            "representative_article_id": 1, "first_seen": "2025-07-15T09:00:00Z",
            "last_updated": "2025-07-16T10:00:00Z", "created_at": "2025-07-15T09:00:00Z",
            "article_count": 3})
        for n in (1, 2, 3):
            store.db["story_articles"].insert({"article_id": n, "story_id": 7,
                                               "joined_at": "2025-07-16T10:00:00Z",
                                               "explanation": "{}"})
    code, out, err = run(folder, "seeds", "add", "--story", "7")
    assert code == 0, err
    [seed] = load_seeds(folder / "seeds").seeds
    assert seed.title == "Roscosmos chief Bakanov visits NASA"
    assert seed.id == "roscosmos-chief-bakanov-visits-nasa"
    assert (seed.date, seed.url) == ("2025-07-15", "https://example.org/1")
    assert seed.text.startswith(BODY[:60])
    assert "Bakanov tours Johnson Space Center" in seed.text
    assert "Баканов встретился с Даффи" in seed.text
    assert "roscosmos" in seed.entity_boosts
    assert "from story 7" in seed_files(folder)[0].read_text(encoding="utf-8")

    with Store(folder / "sw.db") as store:  # a story merged into 7 gives 7's seed
        store.db["stories"].insert({
            "id": 8, "headline": "Merged", "first_seen": "2025-07-15T09:00:00Z",
            "last_updated": "2025-07-16T10:00:00Z", "created_at": "2025-07-15T09:00:00Z",
            "merged_into": 7})
    code, out, err = run(folder, "seeds", "add", "--story", "8", "--dry-run", "--id", "x")
    assert code == 0, err
    assert "# from story 7 (story 8 was merged into it): 3 articles" in out
    code, _out, err = run(folder, "seeds", "add", "--story", "99")
    assert "no story with id 99" in one_line_error(code, err)


def test_dry_run_prints_the_seed_file_and_writes_nothing(tmp_path: Path, run: Runner) -> None:
    folder = project(tmp_path)
    (tmp_path / "a.txt").write_text(f"{TITLE}\n{BODY}\n", encoding="utf-8")
    code, out, err = run(folder, "seeds", "add", str(tmp_path / "a.txt"), "--dry-run",
                         "--title", "Cross-flights: extended [again]")
    assert code == 0, err
    assert out.startswith("---\n") and "title: 'Cross-flights: extended [again]'" in out
    assert "  entities:\n" in out and BODY in out
    assert seed_files(folder) == [] and "would write" in err


def test_seeds_without_a_subcommand_still_lists_the_seeds(tmp_path: Path, run: Runner) -> None:
    folder = project(tmp_path)
    (tmp_path / "a.txt").write_text(f"{TITLE}\n{BODY}\n", encoding="utf-8")
    assert run(folder, "seeds")[1].startswith("no seeds in")
    assert run(folder, "seeds", "add", str(tmp_path / "a.txt"))[0] == 0
    code, out, _err = run(folder, "seeds")
    assert code == 0
    assert out.startswith("roscosmos-and-nasa-agree-to-extend: " + TITLE)
    assert "  entities: " in out and "Roscosmos (AGENCY" in out


# -- clashes --------------------------------------------------------------------------------


def test_id_clash_is_refused_suffixed_or_replaced_with_force(
        tmp_path: Path, run: Runner) -> None:
    folder = project(tmp_path)
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(f"{TITLE}\n{BODY}\n", encoding="utf-8")
    assert run(folder, "seeds", "add", str(tmp_path / "a.txt"))[0] == 0
    # The same source again is refused; another source with the same title gets a suffix.
    code, _out, err = run(folder, "seeds", "add", str(tmp_path / "a.txt"))
    assert "already a seed from this source" in one_line_error(code, err)
    assert run(folder, "seeds", "add", str(tmp_path / "b.txt"))[0] == 0
    assert [s.id for s in load_seeds(folder / "seeds").seeds] == [
        "roscosmos-and-nasa-agree-to-extend", "roscosmos-and-nasa-agree-to-extend-2"]
    # An id given by hand that is in use is refused; --force replaces that file.
    code, _out, err = run(folder, "seeds", "add", str(tmp_path / "b.txt"), "--id",
                          "roscosmos-and-nasa-agree-to-extend")
    assert "already used by" in one_line_error(code, err)
    code, out, err = run(folder, "seeds", "add", str(tmp_path / "b.txt"), "--id",
                         "roscosmos-and-nasa-agree-to-extend", "--title", "Replaced", "--force")
    assert code == 0 and out.startswith("replaced "), err
    assert len(seed_files(folder)) == 2
    assert load_seeds(folder / "seeds").seeds[0].title == "Replaced"


# -- errors: one line, exit 2, nothing written ----------------------------------------------


def test_page_errors_are_one_line_each(tmp_path: Path, run: Runner) -> None:
    folder = project(tmp_path, LOCAL)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/a.html"
    with LocalServer() as server:
        cases = {
            server.route("/gone.html", Reply(status=404, body=b"no")): "HTTP 404",
            server.route("/a.pdf", Reply(b"%PDF-1.4", content_type="application/pdf")):
                "not an HTML page (content type application/pdf)",
            server.route("/empty.html", Reply(b"<html><body><p>Hi.</p></body></html>",
                                              content_type="text/html")): "empty extraction",
            closed: "connection failed",
            "ftp://example.org/a": "not a valid http(s) URL",
            "http://[::1/a": "not a valid http(s) URL",
        }
        for url, reason in cases.items():
            code, _out, err = run(folder, "seeds", "add", url)
            assert reason in one_line_error(code, err), url
    assert seed_files(folder) == []


def test_a_local_page_needs_allow_private_hosts(tmp_path: Path, run: Runner) -> None:
    folder = project(tmp_path)
    with LocalServer() as server:
        url = server.route("/a.html", Reply(PAGE, content_type="text/html"))
        code, _out, err = run(folder, "seeds", "add", url)
        assert server.hits == {}
    assert "allow_private_hosts" in one_line_error(code, err)


def test_file_and_folder_errors_are_one_line_each(tmp_path: Path, run: Runner) -> None:
    folder = project(tmp_path)
    (tmp_path / "short.txt").write_text("Roscosmos said nothing.", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02" * 50)
    for args, reason in [(["missing.txt"], "missing.txt: no such file"),
                         (["short.txt"], "too little text"),
                         (["binary.txt"], "not UTF-8 text"),
                         (["short.txt", "--id", "Not An Id"], "lowercase letters")]:
        code, _out, err = run(folder, "seeds", "add", *[
            str(tmp_path / a) if a.endswith(".txt") else a for a in args])
        assert reason in one_line_error(code, err), args
    for args in ([], [str(tmp_path / "short.txt"), "--story", "1"]):  # usage errors
        code, _out, err = run(folder, "seeds", "add", *args)
        assert code == 2 and "Error: give one source: a URL, a FILE or --story ID" in err
    # The seeds folder is checked before anything is analysed.
    (tmp_path / "feeds.yaml").write_text("settings:\n  seeds_dir: not-a-folder\nfeeds: []\n")
    (tmp_path / "not-a-folder").write_text("a file")
    (tmp_path / "a.txt").write_text(f"{TITLE}\n{BODY}\n", encoding="utf-8")
    code, _out, err = run(folder, "seeds", "add", str(tmp_path / "a.txt"))
    assert "not-a-folder is not a folder" in one_line_error(code, err)
    code, _out, err = run(folder, "seeds", "add", "--story", "1")  # no database yet
    assert "not-a-folder is not a folder" in one_line_error(code, err)


# -- end to end -------------------------------------------------------------------------------


def test_rematch_after_seeds_add_scores_the_stored_articles_against_the_new_seed(
        tmp_path: Path, run: Runner) -> None:
    folder = project(tmp_path)
    (tmp_path / "a.jsonl").write_text(json.dumps(ARTICLE) + "\n", encoding="utf-8")
    code, _out, err = run(folder, "import", str(tmp_path / "a.jsonl"))
    assert code == 0, err
    with Store(folder / "sw.db") as store:
        assert store.matches_of(1) == []
    (tmp_path / "seed.txt").write_text(f"{TITLE}\n{BODY}\n", encoding="utf-8")
    assert run(folder, "seeds", "add", str(tmp_path / "seed.txt"), "--id", "xflights")[0] == 0
    code, out, err = run(folder, "rematch")
    assert code == 0, err
    with Store(folder / "sw.db") as store:
        [event] = store.matches_of(1)
    assert event.seed_id == "xflights" and event.score >= 0.4
