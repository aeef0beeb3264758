"""``spacewatch feeds import`` / ``feeds export``: subscriptions move in and out as OPML, the
user's feeds.yaml is only ever appended to (with a backup), and hostile XML is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.opml import feed_name, read_opml

from .conftest import Runner

USER_CONFIG = """\
# My feeds — hand-written, with comments that must survive an import.
settings:
  contact: ops@example.org   # who to call
feeds:
  # the agencies
  - name: nasa
    url: https://www.nasa.gov/feed/
    tags: [agency]
    language: en
  - name: spacenews
    url: https://spacenews.com/feed/?utm_source=x
    site: https://spacenews.com/
    tags: [press, policy]
  # - name: old-blog   (commented out on purpose)
  #   url: https://old.example.org/rss
"""

READER_EXPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>Subscriptions in a feed reader</title>
    <dateCreated>Mon, 01 Sep 2025 10:00:00 GMT</dateCreated></head>
  <body>
    <outline text="Space" title="Space">
      <outline text="Agencies" title="Agencies">
        <outline type="rss" text="ESA &#8211; Space News" title="ESA - Space News"
                 xmlUrl="https://www.esa.int/rssfeed/Our_Activities/Space_News"
                 htmlUrl="https://www.esa.int/"/>
        <outline type="rss" text="&#1056;&#1086;&#1089;&#1082;&#1086;&#1089;&#1084;&#1086;&#1089;"
                 xmlUrl="https://www.roscosmos.ru/rss/" language="ru"/>
      </outline>
      <outline type="rss" text="Ars Technica: Space" xmlUrl="feed://arstechnica.com/space/feed/"
               htmlUrl="https://arstechnica.com/space/"/>
    </outline>
    <outline text="Policy" title="Policy">
      <outline type="rss" text="ESA &#8211; Space News"
               xmlUrl="https://www.esa.int/rssfeed/Our_Activities/Space_News"/>
      <outline type="link" text="A bookmark, not a feed" url="https://example.org/"/>
    </outline>
    <outline type="rss" text="Top stories" xmlUrl="https://one.example.org/top.rss"/>
    <outline type="rss" text="Top stories" xmlUrl="https://two.example.org/top.rss"/>
  </body>
</opml>
"""




def opml_file(tmp_path: Path, data: bytes, name: str = "subs.opml") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def feeds_of(path: Path) -> dict[str, tuple[str, tuple[str, ...], str | None, str | None]]:
    return {f.name: (f.url, f.tags, f.site, f.language) for f in load_config(path).feeds}


def test_export_then_import_into_an_empty_config_gives_the_same_names_urls_and_tags(
        tmp_path: Path, run: Runner) -> None:
    (tmp_path / "feeds.yaml").write_text(USER_CONFIG)
    code, opml, _ = run(tmp_path, "feeds", "export")
    assert code == 0 and opml.startswith("<?xml")
    other = tmp_path / "other"
    other.mkdir()
    (other / "feeds.yaml").write_text("feeds: []\n")
    code, out, _ = run(other, "feeds", "import", opml_file(tmp_path, opml.encode()))
    assert code == 0, out
    assert feeds_of(other / "feeds.yaml") == feeds_of(tmp_path / "feeds.yaml")


def test_export_to_a_file_and_back_keeps_disabled_feeds_too(tmp_path: Path, run: Runner) -> None:
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n  - {name: quiet, url: 'https://quiet.example.org/rss', enabled: false}\n")
    code, _, err = run(tmp_path, "feeds", "export", "--out", str(tmp_path / "out.opml"))
    assert code == 0 and "1 feed exported" in err
    assert [s.name for s in read_opml((tmp_path / "out.opml").read_bytes()).subscriptions] \
        == ["quiet"]


def test_nested_folders_become_the_feeds_tags_outermost_first() -> None:
    opml = read_opml(READER_EXPORT)
    tags = {s.url: s.tags for s in opml.subscriptions}
    assert tags["https://www.roscosmos.ru/rss/"] == ("Space", "Agencies")
    assert tags["http://arstechnica.com/space/feed/"] == ("Space",)
    assert tags["https://one.example.org/top.rss"] == ()


def test_a_real_world_reader_export_imports_with_valid_names_sites_and_merged_folders(
        tmp_path: Path, run: Runner) -> None:
    code, out, err = run(tmp_path, "feeds", "import", opml_file(tmp_path, READER_EXPORT))
    assert code == 1  # the bookmark outline is no feed: part of the file was not imported
    assert "has no xmlUrl" in err and "1 outline skipped" in out
    feeds = feeds_of(tmp_path / "feeds.yaml")
    # Listed in two folders: one feed with both folders' tags; names made valid.
    assert feeds["ESA Space News"] == ("https://www.esa.int/rssfeed/Our_Activities/Space_News",
                                         ("Space", "Agencies", "Policy"),
                                         "https://www.esa.int/", None)
    assert feeds["roscosmos.ru"] == ("https://www.roscosmos.ru/rss/", ("Space", "Agencies"),
                                     None, "ru")
    assert feeds["Ars Technica Space"][0] == "http://arstechnica.com/space/feed/"
    assert feeds["Ars Technica Space"][2] == "https://arstechnica.com/space/"
    assert feeds["Top stories"][0] == "https://one.example.org/top.rss"
    assert feeds["Top stories 2"][0] == "https://two.example.org/top.rss"
    assert "OPML name 'Ars Technica: Space'" in out


def test_import_appends_keeping_the_users_text_and_comments_and_writes_a_backup(
        tmp_path: Path, run: Runner) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(USER_CONFIG + "# trailing note\n")
    code, out, _ = run(tmp_path, "feeds", "import", opml_file(tmp_path, b"""<opml version="2.0">
      <body><outline text="SpaceX" xmlUrl="https://www.spacex.com/updates.rss"/></body></opml>"""))
    assert code == 0, out
    text = config.read_text()
    before = USER_CONFIG + "# trailing note\n"
    assert (tmp_path / "feeds.yaml.bak").read_text() == before
    # Every line of the user's file is still there, in order; the new feed went into the list.
    assert [line for line in text.splitlines() if line in before.splitlines()] == \
        before.splitlines()
    assert list(feeds_of(config)) == ["nasa", "spacenews", "SpaceX"]
    assert load_config(config).settings.contact == "ops@example.org"
    assert "1 feed added" in out


def test_import_into_a_list_followed_by_settings_keeps_the_settings(
        tmp_path: Path, run: Runner) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n- name: a\n  url: https://a.example.org/rss\n\n"
                      "# settings last\nsettings:\n  jitter: 0\n")
    code, _, _ = run(tmp_path, "feeds", "import", opml_file(tmp_path, b"""<opml version="2.0">
      <body><outline text="b" xmlUrl="https://b.example.org/rss"/></body></opml>"""))
    assert code == 0
    loaded = load_config(config)
    assert [f.name for f in loaded.feeds] == ["a", "b"] and loaded.settings.jitter == 0
    assert config.read_text().endswith("# settings last\nsettings:\n  jitter: 0\n")


def test_a_feed_already_subscribed_under_another_spelling_of_its_url_is_skipped(
        tmp_path: Path, run: Runner) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(USER_CONFIG)
    code, out, _ = run(tmp_path, "feeds", "import", opml_file(tmp_path, b"""<opml version="2.0">
      <body><outline text="SpaceNews (reader)" xmlUrl="https://SPACENEWS.com/feed/"/></body>
      </opml>"""))
    assert code == 0
    assert "already subscribed as 'spacenews'" in out and "nothing to add" in out
    assert config.read_text() == USER_CONFIG
    assert not (tmp_path / "feeds.yaml.bak").exists()


def test_a_name_taken_by_a_feed_at_another_url_is_a_conflict_not_an_overwrite(
        tmp_path: Path, run: Runner) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(USER_CONFIG)
    code, _, err = run(tmp_path, "feeds", "import", opml_file(tmp_path, b"""<opml version="2.0">
      <body><outline text="nasa" xmlUrl="https://www.nasa.gov/news-release/feed/"/>
            <outline text="jaxa" xmlUrl="https://global.jaxa.jp/rss/"/></body></opml>"""))
    assert code == 1
    assert "conflict: 'nasa'" in err and "https://www.nasa.gov/feed/" in err
    feeds = feeds_of(config)
    assert feeds["nasa"][0] == "https://www.nasa.gov/feed/" and "jaxa" in feeds


def test_dry_run_shows_the_yaml_and_writes_nothing(tmp_path: Path, run: Runner) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(USER_CONFIG)
    code, out, _ = run(tmp_path, "feeds", "import", "--dry-run",
                       opml_file(tmp_path, READER_EXPORT))
    assert code == 1  # the bookmark outline
    assert "+  - name: ESA Space News" in out and "nothing written" in out
    assert config.read_text() == USER_CONFIG
    assert not (tmp_path / "feeds.yaml.bak").exists()


def test_import_without_a_feeds_yaml_creates_one(tmp_path: Path, run: Runner) -> None:
    code, _, _ = run(tmp_path, "feeds", "import", opml_file(tmp_path, b"""<opml version="2.0">
      <body><outline text="b" xmlUrl="https://b.example.org/rss"/></body></opml>"""))
    assert code == 0
    assert list(feeds_of(tmp_path / "feeds.yaml")) == ["b"]


def test_an_invalid_feeds_yaml_is_refused_before_anything_is_written(
        tmp_path: Path, run: Runner) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n  - name: a\n    url: nowhere\n")
    code, _, err = run(tmp_path, "feeds", "import", opml_file(tmp_path, READER_EXPORT))
    assert code == 2 and "url 'nowhere'" in err
    assert config.read_text() == "feeds:\n  - name: a\n    url: nowhere\n"


def test_a_feeds_list_written_on_one_line_is_refused_with_the_reason(
        tmp_path: Path, run: Runner) -> None:
    config = tmp_path / "feeds.yaml"
    text = "feeds: [{name: a, url: 'https://a.example.org/rss'}]\n"
    config.write_text(text)
    code, _, err = run(tmp_path, "feeds", "import", opml_file(tmp_path, READER_EXPORT))
    assert code == 2 and "written on one line" in err and len(err.strip().splitlines()) == 1
    assert config.read_text() == text


HOSTILE = {
    "billion laughs": b"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<opml version="2.0"><body><outline text="&d;" xmlUrl="https://x.example.org/rss"/></body></opml>""",
    "external entity": b"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<opml version="2.0"><body><outline text="&secret;" xmlUrl="https://x.example.org/rss"/>
</body></opml>""",
}


@pytest.mark.parametrize("attack", list(HOSTILE))
def test_hostile_xml_is_refused_with_one_line_and_nothing_imported(tmp_path: Path, run: Runner,
                                                                   attack: str) -> None:
    code, _, err = run(tmp_path, "feeds", "import", opml_file(tmp_path, HOSTILE[attack]))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "refused" in err and "Traceback" not in err
    assert not (tmp_path / "feeds.yaml").exists()


@pytest.mark.parametrize(("data", "message"), [
    (b"this is not xml", "not well-formed XML"),
    (b"<rss version='2.0'><channel/></rss>", "root element is <rss>"),
    (b"<opml version='2.0'><head/></opml>", "has no <body>"),
])
def test_a_file_that_is_not_opml_says_what_it_is_in_one_line(
        tmp_path: Path, run: Runner, data: bytes,
                                                             message: str) -> None:
    code, _, err = run(tmp_path, "feeds", "import", opml_file(tmp_path, data))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_outlines_without_an_http_feed_url_are_skipped_and_counted(
        tmp_path: Path, run: Runner) -> None:
    code, out, err = run(tmp_path, "feeds", "import", opml_file(tmp_path, b"""<opml version="2.0">
      <body><outline text="ok" xmlUrl="https://ok.example.org/rss"/>
            <outline text="no url"/>
            <outline text="script" xmlUrl="javascript:alert(1)"/>
            <outline text="relative" xmlUrl="/rss.xml"/></body></opml>"""))
    assert code == 1
    assert "3 outlines skipped" in out and "1 feed added" in out
    assert err.count("skipped:") == 3
    assert list(feeds_of(tmp_path / "feeds.yaml")) == ["ok"]


def test_importing_the_same_file_twice_adds_nothing_the_second_time(
        tmp_path: Path, run: Runner) -> None:
    data = opml_file(tmp_path, b"""<opml version="2.0">
      <body><outline text="b" xmlUrl="https://b.example.org/rss"/></body></opml>""")
    assert run(tmp_path, "feeds", "import", data)[0] == 0
    text = (tmp_path / "feeds.yaml").read_text()
    code, out, _ = run(tmp_path, "feeds", "import", data)
    assert code == 0 and "nothing to add" in out
    assert (tmp_path / "feeds.yaml").read_text() == text


@pytest.mark.parametrize(("title", "url", "name"), [
    ("Ars Technica: Space", "https://arstechnica.com/feed", "Ars Technica Space"),
    ("Policy & Law", "https://x.example.org/rss", "Policy and Law"),
    ("Café Espace — Actualités", "https://x.example.org/rss", "Cafe Espace Actualites"),
    ("Роскосмос", "https://www.roscosmos.ru/rss/", "roscosmos.ru"),
    ("x" * 120, "https://x.example.org/rss", "x" * 80),
    ("", "https://feeds.example.org/rss", "feeds.example.org"),
])
def test_feed_names_are_made_valid_for_feeds_yaml(title: str, url: str, name: str) -> None:
    assert feed_name(title, url) == name


def test_a_feeds_site_must_be_an_http_url(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n  - {name: a, url: 'https://a.example.org/rss', site: nowhere}\n")
    with pytest.raises(ConfigError, match="feed 'a': site: url 'nowhere' is not an absolute"):
        load_config(config)
