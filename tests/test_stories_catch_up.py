"""The stories step catches up on analysed articles a crashed pass (or a database older than
stories) left out of every story, even on a pass that has nothing new to analyse, and does
no story work at all when nothing is left (a cheap watermark check, not a scan)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipeline import ingest
from pipeline.config import Config
from pipeline.match import build_matcher
from pipeline.records import Article
from pipeline.store import Store

from .conftest import make_config
from .test_stories import MEETING, MEETING_REWRITE


def save(store: Store, key: str, title: str, text: str, when: str) -> int:
    art = Article(guid=key, url=f"https://one.example/{key}", title=title, summary=text,
                  published_at=when, published_estimated=False, language="en",
                  language_source="given",
                  content_hash=hashlib.sha256(text.encode()).hexdigest())
    return store.save_articles([art], when).new_ids[0]


@pytest.fixture
def config() -> Config:
    """The project's own seed (the Roscosmos chief's visit to NASA), which the meeting
    reports match."""
    return make_config({}, seeds_dir=str(Path(__file__).resolve().parents[1] / "seeds"),
                       full_text=False)


def test_a_pass_with_nothing_new_puts_left_over_analysed_articles_in_stories(
        tmp_path: Path, config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(tmp_path / "gap.db") as store:
        first = save(store, "p1", "Bakanov and Isaacman discuss ISS deorbit in Houston",
                     MEETING, "2026-03-10T09:00:00Z")
        second = save(store, "p2", "Roscosmos and NASA heads hold Houston talks on station "
                      "deorbit", MEETING_REWRITE, "2026-03-10T13:00:00Z")

        def crash(*_args: object, **_kwargs: object) -> None:
            raise KeyboardInterrupt("killed between matching and the stories step")

        with monkeypatch.context() as patch:
            patch.setattr(ingest, "assign_stories", crash)
            with pytest.raises(KeyboardInterrupt):
                ingest.analyse_pending(store, config)
        # Analysed and matched, but in no story.
        assert store.scalar("SELECT count(*) FROM articles WHERE nlp_version IS NULL") == 0
        assert store.scalar("SELECT count(*) FROM matches") > 0
        assert store.story_of(first) is None and store.story_of(second) is None

        report = ingest.analyse_pending(store, config)  # nothing new to analyse or score
        assert report.entities is None and report.matching is None
        assert report.stories is not None and report.stories.articles == 2
        assert store.story_of(first) is not None
        assert store.story_of(first) == store.story_of(second)


def test_a_pass_with_nothing_left_does_no_story_work(tmp_path: Path, config: Config,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(tmp_path / "done.db") as store:
        article = save(store, "p1", "Bakanov and Isaacman discuss ISS deorbit in Houston",
                       MEETING, "2026-03-10T09:00:00Z")
        ingest.analyse_pending(store, config)
        assert store.story_of(article) is not None

        def no_story_work(*_args: object, **_kwargs: object) -> None:
            raise AssertionError("the stories step ran with nothing left to place")

        monkeypatch.setattr(ingest, "assign_stories", no_story_work)
        monkeypatch.setattr(Store, "articles_needing_story", no_story_work)
        report = ingest.analyse_pending(store, config)
        assert report.stories is None
        # The daemon's way (its own matcher: the entities and matching stages always run).
        kept = build_matcher(store, config)
        report = ingest.analyse_pending(store, config, matcher=lambda _s, _c: kept)
        assert report.entities is not None and report.entities.analyzed == 0
        assert report.stories is None
