"""Stories: articles reporting the same event grouped incrementally (pipeline.stories).

Most tests store small articles with hand-made mentions (no spaCy); one runs the real
pipeline end to end.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pipeline import stories
from pipeline.errors import InputError
from pipeline.records import Article, Mention, Quote
from pipeline.store import Store

KINDS = {"dmitry-bakanov": "OFFICIAL", "jared-isaacman": "OFFICIAL", "roscosmos": "AGENCY",
         "nasa": "AGENCY", "iss": "SPACECRAFT", "houston": "PLACE", "ros": "PROGRAM",
         "vostochny": "PLACE", "usa": "COUNTRY", "russia": "COUNTRY", "spacex": "COMPANY",
         "crew-dragon": "SPACECRAFT", "esa": "AGENCY", "artemis": "PROGRAM"}

MEETING = ("Roscosmos head Dmitry Bakanov met NASA administrator Jared Isaacman in Houston on "
           "Tuesday to discuss the deorbit of the International Space Station and the "
           "cross-flight agreement for Soyuz and Crew Dragon seats. The two heads agreed to keep "
           "the station in orbit until its controlled deorbit and to continue cross-flights.")
MEETING_REWRITE = ("Dmitry Bakanov, the head of Roscosmos, and NASA chief Jared Isaacman held "
                   "talks in Houston about the deorbit of the space station and extending the "
                   "cross-flight seat swap; both sides agreed the controlled deorbit stays "
                   "on schedule and cross-flights continue.")
MEETING_RU = ("Глава Роскосмоса Дмитрий Баканов встретился в Хьюстоне с администратором НАСА "
              "Джаредом Айзекманом. Стороны обсудили затопление МКС и перекрёстные полёты.")
ROS = ("Dmitry Bakanov said Roscosmos will launch the first module of the Russian Orbital "
       "Station from Vostochny in 2027, a scientific and energy module, and that the national "
       "station will replace Russian participation in the orbital laboratory. Bakanov showed "
       "the module mock-up at the plant in Korolev.")
AGREEMENT = ("Roscosmos and NASA signed an agreement on the deorbit of the International Space "
             "Station: Dmitry Bakanov and Jared Isaacman set out the controlled deorbit plan "
             "and extended the cross-flight programme for Soyuz and Crew Dragon seats.")
ARTEMIS = ("ESA and NASA confirmed that the Artemis lunar Gateway module will ship to Florida; "
           "the European service module for Artemis IV passed its final tests in Bremen.")


def add(store: Store, key: str, title: str, text: str, when: str, entities: list[str], *,
        language: str = "en", host: str = "one.example",
        quotes: list[Quote] | None = None) -> int:
    """Store one article with hand-made mentions (one per named entity) and NLP stamped."""
    digest = hashlib.sha256((title + text).encode()).hexdigest()
    art = Article(guid=key, url=f"https://{host}/{key}", title=title, summary=text,
                  published_at=when, published_estimated=False, language=language,
                  language_source="given", content_hash=digest)
    saved = store.save_articles([art], when)
    article_id = saved.new_ids[0]
    mentions = [Mention(entity_id=e, name=e.replace("-", " ").title(), kind=KINDS[e],
                        origin="gazetteer", surface=e, start=i, end=i + 1, sentence=title)
                for i, e in enumerate(entities)]
    store.save_mentions([(article_id, mentions)], "nlp-test", when,
                        quotes={article_id: quotes or []})
    return article_id


def story_of(store: Store, article_id: int) -> int:
    story = store.story_of(article_id)
    assert story is not None
    return story


MEETING_ENTITIES = ["dmitry-bakanov", "jared-isaacman", "roscosmos", "nasa", "iss", "houston",
                    "crew-dragon"]


@pytest.fixture
def meeting(store: Store) -> dict[str, int]:
    """The day of the meeting: the first report, a rewrite in another outlet, the Russian."""
    ids = {
        "first": add(store, "a1", "Bakanov and Isaacman discuss ISS deorbit in Houston",
                     MEETING, "2026-03-10T09:00:00Z", MEETING_ENTITIES),
        "rewrite": add(store, "a2", "Roscosmos and NASA heads hold Houston talks on station "
                       "deorbit", MEETING_REWRITE, "2026-03-10T13:00:00Z",
                       MEETING_ENTITIES[:-1], host="two.example"),
        "ru": add(store, "a3", "Баканов и Айзекман обсудили затопление МКС", MEETING_RU,
                  "2026-03-10T18:00:00Z", MEETING_ENTITIES[:-1], language="ru",
                  host="ria.example"),
    }
    return ids


def test_rewrite_in_a_second_outlet_joins_the_first_report(store: Store,
                                                            meeting: dict[str, int]) -> None:
    changes = stories.assign_stories(store)
    assert story_of(store, meeting["first"]) == story_of(store, meeting["rewrite"])
    story = store.story(story_of(store, meeting["first"]))
    assert story is not None and story.article_count == 3 and story.outlet_count == 3
    assert story.headline == "Bakanov and Isaacman discuss ISS deorbit in Houston"
    assert [c.created for c in changes] == [True]


def test_same_event_in_russian_joins_through_its_entities(store: Store,
                                                          meeting: dict[str, int]) -> None:
    changes = stories.assign_stories(store)
    assert story_of(store, meeting["ru"]) == story_of(store, meeting["first"])
    story = store.story(story_of(store, meeting["ru"]))
    assert story is not None and story.languages == ("en", "ru")
    assert "new language: ru" in changes[0].growth


def test_headline_prefers_an_english_title_over_an_earlier_russian_one(store: Store) -> None:
    ru = add(store, "r1", "Баканов и Айзекман обсудили затопление МКС", MEETING_RU,
             "2026-03-10T06:00:00Z", MEETING_ENTITIES[:-1], language="ru", host="ria.example")
    en = add(store, "e1", "Bakanov and Isaacman discuss ISS deorbit in Houston", MEETING,
             "2026-03-10T09:00:00Z", MEETING_ENTITIES)
    stories.assign_stories(store)
    story = store.story(story_of(store, ru))
    assert story is not None and story_of(store, en) == story.id
    assert story.headline == "Bakanov and Isaacman discuss ISS deorbit in Houston"
    assert story.first_seen == "2026-03-10T06:00:00Z"


def test_follow_up_five_days_later_is_a_new_story_linked_to_the_earlier(
        store: Store, meeting: dict[str, int]) -> None:
    later = add(store, "b1", "Roscosmos and NASA sign ISS deorbit agreement", AGREEMENT,
                "2026-03-15T10:00:00Z", MEETING_ENTITIES)
    stories.assign_stories(store)
    first = story_of(store, meeting["first"])
    follow = story_of(store, later)
    assert follow != first
    row = store.story(follow)
    assert row is not None and row.follows_story_id == first
    explanation = json.loads(store.story_articles(follow)[0].explanation)
    assert explanation["decision"] == "follow-up" and explanation["follows_story_id"] == first


def test_unrelated_story_sharing_actors_stays_apart(store: Store,
                                                    meeting: dict[str, int]) -> None:
    other = add(store, "c1", "Bakanov: first Russian Orbital Station module to fly in 2027",
                ROS, "2026-03-11T08:00:00Z", ["dmitry-bakanov", "roscosmos", "ros",
                                             "vostochny", "russia"], host="tass.example")
    artemis = add(store, "c2", "ESA and NASA ship Artemis Gateway module", ARTEMIS,
                  "2026-03-10T20:00:00Z", ["esa", "nasa", "artemis"])
    stories.assign_stories(store)
    meeting_story = story_of(store, meeting["first"])
    assert story_of(store, other) != meeting_story
    assert story_of(store, artemis) != meeting_story
    assert story_of(store, other) != story_of(store, artemis)


def test_rerun_changes_nothing(store: Store, meeting: dict[str, int]) -> None:
    stories.assign_stories(store)
    before = store.rows("SELECT * FROM story_articles ORDER BY article_id")
    keys = store.rows("SELECT * FROM story_keys ORDER BY key, story_id")
    assert stories.assign_stories(store) == []
    assert store.rows("SELECT * FROM story_articles ORDER BY article_id") == before
    assert store.rows("SELECT * FROM story_keys ORDER BY key, story_id") == keys


def test_each_article_records_why_it_joined(store: Store, meeting: dict[str, int]) -> None:
    stories.assign_stories(store)
    rows = {a.article_id: stories.StoryExplanation.from_json(a.explanation)
            for a in store.story_articles(story_of(store, meeting["first"]))}
    assert rows[meeting["first"]].decision == "started"
    assert rows[meeting["first"]].reason.startswith("started a story: no candidate above")
    joined = rows[meeting["rewrite"]]
    assert joined.decision == "joined" and joined.similarity >= joined.threshold
    assert "e:dmitry-bakanov" in [k.key for k in joined.entities]
    assert joined.terms and joined.days_apart is not None and joined.days_apart < 1


def test_new_official_quoted_is_growth(store: Store, meeting: dict[str, int]) -> None:
    stories.assign_stories(store)
    quote = Quote(speaker_entity_id="jared-isaacman", speaker_name="Jared Isaacman",
                  text="We will keep flying together", kind="direct", start=0, end=10,
                  sentence_start=0, sentence_end=20, cue="said")
    late = add(store, "a4", "Isaacman: NASA and Roscosmos keep flying together after Houston",
               MEETING_REWRITE + " Isaacman said the cross-flights will go on.",
               "2026-03-11T07:00:00Z", MEETING_ENTITIES, host="four.example", quotes=[quote])
    changes = stories.assign_stories(store)
    assert [c.article_ids for c in changes] == [(late,)]
    assert changes[0].growth == ("new official quoted: jared-isaacman",)
    assert not changes[0].created


def test_merge_and_split_survive_a_later_pass(store: Store, meeting: dict[str, int]) -> None:
    other = add(store, "c1", "Bakanov: first Russian Orbital Station module to fly in 2027",
                ROS, "2026-03-11T08:00:00Z", ["dmitry-bakanov", "roscosmos", "ros",
                                             "vostochny"], host="tass.example")
    stories.assign_stories(store)
    main, ros = story_of(store, meeting["first"]), story_of(store, other)
    new = stories.split_story(store, main, [meeting["ru"]])
    stories.merge_stories(store, main, ros)
    # Another rewrite arrives and a later pass runs.
    add(store, "a5", "NASA, Roscosmos heads discuss ISS deorbit", MEETING_REWRITE + " Again.",
        "2026-03-10T21:00:00Z", MEETING_ENTITIES, host="five.example")
    stories.assign_stories(store)
    assert story_of(store, meeting["ru"]) == new
    assert story_of(store, other) == main
    by = {r["article_id"]: r["assigned_by"] for r in store.rows(
        "SELECT article_id, assigned_by FROM story_articles")}
    assert by[meeting["ru"]] == "split" and by[other] == "merge"
    merged = store.story(ros)
    assert merged is not None and merged.merged_into == main and merged.article_count == 0
    assert store.scalar("SELECT count(*) FROM story_keys WHERE story_id = ?", (ros,)) == 0
    split = store.story(new)
    assert split is not None and "ru" in split.languages and split.merged_into is None


def test_merge_and_split_refuse_what_cannot_be_done(store: Store,
                                                    meeting: dict[str, int]) -> None:
    stories.assign_stories(store)
    main = story_of(store, meeting["first"])
    with pytest.raises(InputError, match="no story with id 999"):
        stories.merge_stories(store, main, 999)
    with pytest.raises(InputError, match="into itself"):
        stories.merge_stories(store, main, main)
    with pytest.raises(InputError, match="article 12345 is not in story"):
        stories.split_story(store, main, [12345])
    with pytest.raises(InputError, match="nothing to split"):
        stories.split_story(store, main, list(meeting.values()))


def test_candidates_come_from_the_index_not_a_scan(store: Store) -> None:
    """A story that shares no key with the article is never read for it."""
    add(store, "x1", "ESA and NASA ship Artemis Gateway module", ARTEMIS,
        "2026-03-10T20:00:00Z", ["esa", "nasa", "artemis"])
    stories.assign_stories(store)
    weights = {"e:dmitry-bakanov": 3.0, "t:deorbit": 2.0}
    assert store.story_candidates(weights, "2026-02-01T00:00:00Z", 40, 25) == []


def test_stories_step_runs_in_the_real_pipeline(tmp_path: Path) -> None:
    """End to end: analyse_pending puts three reports of one meeting (two outlets, one in
    Russian) into one story and says so in its report; a second run adds nothing."""
    from pipeline.ingest import analyse_pending

    from .conftest import make_config

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    config = make_config({}, seeds_dir=str(seeds), full_text=False)
    with Store(tmp_path / "e2e.db") as st:
        for key, title, text, when, lang, host in (
                ("p1", "Bakanov and Isaacman discuss ISS deorbit in Houston", MEETING,
                 "2026-03-10T09:00:00Z", "en", "one.example"),
                ("p2", "Roscosmos and NASA heads hold Houston talks on station deorbit",
                 MEETING_REWRITE, "2026-03-10T13:00:00Z", "en", "two.example"),
                ("p3", "Баканов и Айзекман обсудили затопление МКС", MEETING_RU,
                 "2026-03-10T18:00:00Z", "ru", "ria.example")):
            st.save_articles([Article(guid=key, url=f"https://{host}/{key}", title=title,
                                      summary=text, published_at=when,
                                      published_estimated=False, language=lang,
                                      language_source="given",
                                      content_hash=hashlib.sha256(text.encode()).hexdigest())],
                             when)
        report = analyse_pending(st, config)
        assert report.stories is not None
        assert (report.stories.articles, report.stories.stories, report.stories.new) == (3, 1, 1)
        assert st.scalar("SELECT count(DISTINCT story_id) FROM story_articles") == 1
        again = analyse_pending(st, config)
        assert again.stories is None or again.stories.articles == 0


def test_each_placement_is_stamped_when_it_is_written_not_when_the_run_began(
        store: Store, meeting: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    # A long run (a big import) commits placements for minutes; the alerts' join watermark
    # must not pass one of them before it is committed, so each carries its own time.
    from datetime import UTC, datetime, timedelta

    clock = iter(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=3 * i)
                 for i in range(1000))
    monkeypatch.setattr(stories, "now_utc", lambda: next(clock))
    stories.assign_stories(store)
    stamps = [r["joined_at"] for r in store.rows(
        "SELECT joined_at FROM story_articles ORDER BY joined_at")]
    assert len(stamps) >= 3 and len(set(stamps)) == len(stamps)
