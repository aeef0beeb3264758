"""Normalizing entries: canonical URLs, plain-text summaries, UTC dates, defused XML."""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser

from pipeline.config import Settings
from pipeline.normalize import canonical_url, defuse_xml, html_to_text, normalize_entry

NOW = datetime(2025, 7, 20, 12, 0, tzinfo=UTC)


def entry(xml_item: str):
    doc = f'<rss version="2.0"><channel><title>t</title>{xml_item}</channel></rss>'
    return feedparser.parse(doc.encode()).entries[0]


def test_canonical_url_strips_tracking_and_fragment() -> None:
    assert canonical_url("HTTPS://Example.ORG:443/a/b?utm_source=x&id=7&fbclid=1#frag") == \
        "https://example.org/a/b?id=7"


def test_canonical_url_rejects_script_data_and_overlong() -> None:
    assert canonical_url("javascript:alert(1)") is None
    assert canonical_url("data:text/html,<script>") is None
    assert canonical_url("https://e.org/" + "a" * 2000) is None
    assert canonical_url("https://user:pw@e.org/") is None


def test_summary_html_becomes_text_with_entities_decoded() -> None:
    text = html_to_text("<p>NASA &amp; Roscosmos</p><script>alert(1)</script><p>met&nbsp;today</p>")
    assert text == "NASA & Roscosmos\nmet today"


def test_published_time_is_utc_iso() -> None:
    art = normalize_entry(entry("<item><title>x</title><guid>g</guid>"
                                "<pubDate>Tue, 15 Jul 2025 12:30:00 +0300</pubDate></item>"),
                          fetched_at=NOW, settings=Settings())
    assert art is not None
    assert art.published_at == "2025-07-15T09:30:00Z" and not art.published_estimated


def test_missing_and_future_dates_fall_back_to_fetch_time_flagged() -> None:
    for item in ("<item><title>x</title><guid>g</guid></item>",
                 "<item><title>x</title><guid>g</guid>"
                 "<pubDate>Tue, 15 Jul 2031 12:30:00 GMT</pubDate></item>"):
        art = normalize_entry(entry(item), fetched_at=NOW, settings=Settings())
        assert art is not None
        assert art.published_at == "2025-07-20T12:00:00Z" and art.published_estimated


def test_missing_guid_falls_back_to_link_then_content() -> None:
    with_link = normalize_entry(entry("<item><title>x</title><link>https://e.org/a?utm_medium=r"
                                      "</link></item>"), fetched_at=NOW, settings=Settings())
    assert with_link is not None and with_link.guid == "https://e.org/a"
    bare = normalize_entry(entry("<item><title>only a title</title></item>"),
                           fetched_at=NOW, settings=Settings())
    assert bare is not None and bare.guid.startswith("sha:") and bare.url is None


def test_javascript_link_is_not_stored() -> None:
    art = normalize_entry(entry("<item><title>x</title><guid>g</guid>"
                                "<link>javascript:alert(1)</link></item>"),
                          fetched_at=NOW, settings=Settings())
    assert art is not None and art.url is None


def test_defuse_removes_internal_subset() -> None:
    body = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;">]>'
            b"<rss><channel><title>&b;</title></channel></rss>")
    cleaned, changed = defuse_xml(body)
    assert changed and b"<!ENTITY" not in cleaned and b"<!DOCTYPE" not in cleaned
    assert cleaned.startswith(b'<?xml version="1.0"?><rss>')


def test_entry_with_only_a_link_or_an_id_is_kept_with_empty_title() -> None:
    by_link = normalize_entry(entry("<item><link>https://e.org/a</link></item>"),
                              fetched_at=NOW, settings=Settings())
    assert by_link is not None
    assert (by_link.guid, by_link.url, by_link.title, by_link.summary) == (
        "https://e.org/a", "https://e.org/a", "", "")
    by_id = normalize_entry(entry('<item><guid isPermaLink="false">tag:e.org,2025:7</guid>'
                                  "</item>"), fetched_at=NOW, settings=Settings())
    assert by_id is not None and by_id.guid == "tag:e.org,2025:7" and by_id.title == ""


def test_entry_with_no_id_link_or_text_is_dropped() -> None:
    empty = normalize_entry(entry("<item><description>&lt;img src='x.png'/&gt;</description>"
                                  "<link>javascript:alert(1)</link></item>"),
                            fetched_at=NOW, settings=Settings())
    assert empty is None


def test_defuse_keeps_utf16_and_utf32_documents_intact() -> None:
    doc = ('<?xml version="1.0" encoding="{enc}"?><rss version="2.0"><channel><title>t</title>'
           "<item><title>Баканов</title><guid>g</guid></item></channel></rss>")
    for enc in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"):
        body = doc.format(enc=enc).encode(enc)
        cleaned, changed = defuse_xml(body)
        assert (cleaned, changed) == (body, False), enc
        assert feedparser.parse(cleaned).entries[0].title == "Баканов"


def test_defuse_removes_internal_subset_from_utf16_document() -> None:
    doc = ('<?xml version="1.0" encoding="utf-16"?><!DOCTYPE rss [<!ENTITY a "aaaa">'
           '<!ENTITY b "&a;&a;">]><rss version="2.0"><channel><title>&b;</title></channel></rss>')
    cleaned, changed = defuse_xml(doc.encode("utf-16"))
    text = cleaned.decode("utf-16")
    assert changed and "<!ENTITY" not in text and "<!DOCTYPE" not in text
    assert text.startswith('<?xml version="1.0" encoding="utf-16"?><rss')


# -- invisible controls (issue 11.6) and unusable dates (11.19) ---------------------------------


def test_every_format_and_control_character_is_stripped_from_feed_text() -> None:
    import sys
    import unicodedata

    from pipeline.sanitize import clean_text

    for cp in range(sys.maxunicode + 1):
        char = chr(cp)
        kind = unicodedata.category(char)
        if (kind == "Cf" and cp not in (0x200C, 0x200D)) or \
                (kind == "Cc" and char not in "\t\n"):
            assert clean_text(f"a{char}b") == "ab", hex(cp)


def test_title_with_right_to_left_override_reads_as_written() -> None:
    art = normalize_entry(entry("<item><title>Roscosmos \u202eAXAN\u202c talks\u200b</title>"
                                "<guid>g</guid><author>\u2067Anna\u2069 Reporter</author>"
                                "<description>Bakanov\u2066 met\u2069 Duffy\ufeff.</description>"
                                "</item>"), fetched_at=NOW, settings=Settings())
    assert art is not None
    assert (art.title, art.summary, art.author) == ("Roscosmos AXAN talks", "Bakanov met Duffy.",
                                                    "Anna Reporter")


def test_joiners_stay_inside_words_of_scripts_that_need_them_and_nowhere_else() -> None:
    from pipeline.sanitize import clean_text

    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "mi-khaham" with a ZWNJ
    astronaut = "\U0001f469\u200d\U0001f680"
    assert clean_text(persian) == persian
    assert clean_text(astronaut) == astronaut
    assert clean_text("Ros\u200dcos\u200cmos \u200dNASA\u200c") == "Roscosmos NASA"


def test_invisible_characters_in_a_link_are_percent_encoded_not_shown() -> None:
    assert canonical_url("https://e.org/a\u202eb?x=\u200b1") == "https://e.org/a%E2%80%AEb?x=%E2%80%8B1"


def test_import_record_with_unparseable_date_is_flagged_and_says_why() -> None:
    from pipeline.normalize import import_record

    bad = import_record({"id": "1", "text": "Bakanov\u202e met Duffy.",
                         "published": "yesterday-ish"}, NOW, Settings())
    assert bad is not None and bad.published_estimated
    assert bad.published_at == "2025-07-20T12:00:00Z"
    assert bad.summary == "Bakanov met Duffy."
    assert bad.date_note == "unparseable published 'yesterday-ish'; using the import time"
    good = import_record({"id": "2", "text": "x", "published": "2025-07-15T09:30:00Z"}, NOW,
                         Settings())
    assert good is not None and not good.published_estimated and good.date_note is None
    undated = import_record({"id": "3", "text": "x"}, NOW, Settings())
    assert undated is not None and undated.published_estimated and undated.date_note is None


def test_unparseable_feed_date_note_names_the_entry() -> None:
    from pipeline.normalize import parse_feed

    body = (b'<rss version="2.0"><channel><title>t</title><item><title>a</title><guid>a</guid>'
            b"<pubDate>Tue, 15 Jul 2025 09:30:00 GMT</pubDate></item><item><title>b</title>"
            b"<guid>b</guid><pubDate>soon-ish</pubDate></item></channel></rss>")
    parsed = parse_feed(body, url="http://e.org/f", content_type="application/rss+xml",
                        fetched_at=NOW, settings=Settings())
    assert "entry 2: unparseable published 'soon-ish'; using the fetch time" in parsed.notes
    assert [a.published_estimated for a in parsed.articles] == [False, True]
