"""The alerts as a user meets them: `alerts test`, `alerts list`, `status`, the digest's
health section, and `fetch` delivering what its pass queued before it exits."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pipeline.alerts import deliver_due, queue_alerts
from pipeline.config import load_config
from pipeline.digest import build_digest
from pipeline.store import Store

from .alert_data import Stories
from .conftest import Runner
from .httpserver import LocalServer, Reply, rss
from .webhook import Receiver

ROOT = Path(__file__).resolve().parents[1]


def write_config(folder: Path, rules: str, feeds: str = "feeds: []\n") -> None:
    (folder / "feeds.yaml").write_text(f"{feeds}alerts:\n{rules}")


def hook(url: str, name: str = "desk", seeds: str = "['*']", extra: str = "") -> str:
    return f"  - name: {name}\n    seeds: {seeds}\n    min_score: 0.5\n    webhook: {url}\n{extra}"


def test_alerts_test_sends_a_sample_to_each_rule_of_the_seed(tmp_path: Path,
                                                              run: Runner) -> None:
    with Receiver() as ok, Receiver(statuses=[500]) as broken:
        write_config(tmp_path, hook(ok.url) + hook(broken.url, name="broken", seeds="[iss]")
                     + hook(ok.url, name="other", seeds="[artemis]"))
        code, out, err = run(tmp_path, "alerts", "test", "iss")
        assert code == 1
        assert f"desk (webhook {ok.url}): sent (http 200" in out
        assert f"broken (webhook {broken.url}): FAILED: http 500: ok" in out
        assert "other" not in out
        (sample,) = ok.received
        assert sample.payload["test"] is True and sample.payload["seed"] == "iss"
        assert len(broken.received) == 1
        code, out, _ = run(tmp_path, "alerts", "test", "artemis")
        assert code == 0 and "other (webhook" in out


def test_alerts_test_for_a_seed_no_rule_follows_is_one_line(tmp_path: Path,
                                                             run: Runner) -> None:
    write_config(tmp_path, hook("http://127.0.0.1:9/h", seeds="[iss]"))
    code, out, err = run(tmp_path, "alerts", "test", "mars")
    assert code == 2
    assert err.strip().splitlines()[-1] == \
        "error: no alert rule covers seed 'mars' (rules: desk)"


def test_alerts_test_warns_when_no_seed_has_that_id_and_still_sends(tmp_path: Path,
                                                                    run: Runner) -> None:
    (tmp_path / "seeds").mkdir()
    shutil.copy(ROOT / "seeds" / "000_roscosmos_chief_visits_nasa.md", tmp_path / "seeds")
    with Receiver() as ok:
        write_config(tmp_path, hook(ok.url))
        code, _out, err = run(tmp_path, "alerts", "test", "us-russia-iss-coop")
        assert code == 0
        assert "warning: no seed with id 'us-russia-iss-coop'" in err
        assert "us-russia-iss-cooperation" in err  # the ids there are, to pick from
        assert len(ok.received) == 1
        code, _out, err = run(tmp_path, "alerts", "test", "us-russia-iss-cooperation")
        assert code == 0 and "warning" not in err


def test_alerts_test_says_when_the_secret_is_missing(tmp_path: Path, run: Runner,
                                                     monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("NO_SUCH_SECRET_VAR", raising=False)
    with Receiver() as ok:
        write_config(tmp_path, hook(ok.url, extra="    secret_env: NO_SUCH_SECRET_VAR\n"))
        code, out, _ = run(tmp_path, "alerts", "test", "iss")
        assert code == 0
        assert "NO_SUCH_SECRET_VAR is not set, so the body was not signed" in out
        assert "X-SpaceWatch-Signature" not in ok.received[0].headers


def failed_alert(tmp_path: Path) -> None:
    """An outbox with one alert given up (the receiver answered with markup) and one
    pending."""
    with Receiver(answer=lambda r: 500) as bad:
        write_config(tmp_path, hook(bad.url, extra="    timeout: 2s\n"))
        config = load_config(tmp_path / "feeds.yaml")
        with Store(tmp_path / "sw.db") as store:
            data = Stories(store)
            data.article(1)
            queue_alerts(store, config)
            when = datetime.now(UTC)
            for _ in range(20):
                deliver_due(store, config, now=when)
                when += timedelta(hours=2)
            with store.transaction() as conn:  # what a receiver said, kept verbatim
                conn.execute("UPDATE alert_outbox SET last_error = 'http 500: [bold]no[/bold]'")
            data.article(2)
            queue_alerts(store, config)


def test_alerts_list_shows_state_attempts_and_the_error_verbatim_in_80_columns(
        tmp_path: Path, run: Runner, monkeypatch) -> None:  # noqa: ANN001
    failed_alert(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(tmp_path, "alerts", "list")
    assert code == 0
    assert "desk:1:1" in out and "failed" in out and "[bold]no[/bold]" in out
    assert "desk:2:1" in out and "pending" in out and "first alert" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    code, out, _ = run(tmp_path, "alerts", "list", "--state", "failed")
    assert "desk:2:1" not in out and "desk:1:1" in out


def test_alerts_list_on_a_database_without_alerts(tmp_path: Path, run: Runner) -> None:
    write_config(tmp_path, hook("http://127.0.0.1:9/h"))
    Store(tmp_path / "sw.db").close()
    code, out, _ = run(tmp_path, "alerts", "list")
    assert (code, out.strip()) == (0, "no alerts yet")


def test_status_shows_pending_and_failed_alerts(tmp_path: Path, run: Runner) -> None:
    failed_alert(tmp_path)
    code, out, _ = run(tmp_path, "status")
    assert code == 0
    assert "alerts: 0 delivered, 1 pending" in out
    assert "1 FAILED" in out
    assert "alert desk:1:1 (webhook) failed after 12 attempts: http 500: [bold]no[/bold]" in out


def test_the_digest_health_section_lists_alerts_that_failed_that_day(tmp_path: Path) -> None:
    failed_alert(tmp_path)
    with Store(tmp_path / "sw.db") as store:
        last = store.scalar("SELECT max(attempted_at) FROM alert_attempts")
        day = date.fromisoformat(last[:10])
        md = build_digest(store, day, "md", "UTC", now=datetime.now(UTC) + timedelta(days=3))
        text = build_digest(store, day, "text", "UTC", now=datetime.now(UTC) + timedelta(days=3))
        html = build_digest(store, day, "html", "UTC", now=datetime.now(UTC) + timedelta(days=3))
        data = json.loads(build_digest(store, day, "json", "UTC",
                                       now=datetime.now(UTC) + timedelta(days=3)))
        other = build_digest(store, day - timedelta(days=1), "md", "UTC")
    assert "alert **desk:1:1** (webhook): failed after 12 attempts" in md
    assert r"\[bold\]no\[/bold\]" in md  # escaped like any stored text
    assert "- alert desk:1:1 (webhook): failed after 12 attempts" in text
    assert "<strong>desk:1:1</strong>" in html
    assert data["alert_failures"][0]["idempotency_key"] == "desk:1:1"
    assert "desk:1:1" not in other


ON_TOPIC = {"title": "Bakanov and Duffy agree to extend cross-flights",
            "link": "http://news.example.invalid/on/1", "guid": "on-1",
            "description": "Roscosmos head Dmitry Bakanov and acting NASA Administrator Sean "
                           "Duffy agreed to extend the cross-flight program. Cosmonaut Oleg "
                           "Platonov will fly on Crew-11 aboard Crew Dragon, and an American "
                           "astronaut will ride a Soyuz. The two agencies also discussed ISS "
                           "deorbit plans and the extension of the International Space Station.",
            "pubDate": "Tue, 15 Jul 2025 09:30:00 GMT"}


def test_fetch_delivers_the_alert_its_pass_queued_before_it_exits(tmp_path: Path,
                                                                   run: Runner) -> None:
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    with LocalServer() as server, Receiver() as receiver:
        url = server.route("/f.xml", Reply(rss([ON_TOPIC])))
        write_config(tmp_path, "  - name: desk\n    seeds: ['*']\n    min_score: 0.0\n"
                     f"    webhook: {receiver.url}\n",
                     feeds=f"feeds:\n  - {{name: wire, url: '{url}'}}\n")
        code, out, err = run(tmp_path, "fetch")
        assert code == 0, err
        assert "alerts: 1 sent" in out
        (got,) = receiver.received
        payload = got.payload
        assert payload["idempotency_key"].startswith("desk:")
        assert payload["articles"][0]["title"] == ON_TOPIC["title"]
        code, out, _ = run(tmp_path, "fetch")  # nothing new: nothing queued, nothing sent
        assert "alerts:" not in out
        assert len(receiver.received) == 1


def test_reprocess_delivers_the_alert_its_run_queued_before_it_exits(tmp_path: Path,
                                                                     run: Runner) -> None:
    """An article stored but not analysed yet (as a crashed fetch leaves it): `reprocess`
    analyses, matches and queues it, and sends the alert before it exits, as fetch does."""
    from pipeline.records import Article

    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    with Receiver() as receiver:
        write_config(tmp_path, "  - name: desk\n    seeds: ['*']\n    min_score: 0.0\n"
                     f"    webhook: {receiver.url}\n")
        with Store(tmp_path / "sw.db") as store:
            store.save_articles([Article(
                guid="on-1", url="https://news.example.org/on/1", title=ON_TOPIC["title"],
                summary=ON_TOPIC["description"], published_at=datetime.now(UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"), published_estimated=False, language="en",
                language_source="given", content_hash="on-1")], "2025-07-15T10:00:00Z")
        code, out, err = run(tmp_path, "reprocess")
        assert code == 0, err
        assert "alerts: 1 sent" in out
        (got,) = receiver.received
        assert got.payload["articles"][0]["title"] == ON_TOPIC["title"]
        code, out, _ = run(tmp_path, "reprocess")  # nothing stale: nothing sent
        assert code == 0 and "alerts:" not in out
        assert len(receiver.received) == 1
