"""E-mailing the digest: a real plain-text part, retries with backoff, every attempt recorded,
the last delivery in ``status``, and ``spacewatch digest --email`` to send or resend a day."""

from __future__ import annotations

import dataclasses
import email
import re
import socket
from collections.abc import Iterator
from datetime import date
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import digest as digest_mod
from pipeline.cli import cli
from pipeline.config import Settings, SmtpSettings
from pipeline.digest import DigestError, build_digest, deliver_digest
from pipeline.store import Store
from pipeline.store.deliveries import deliveries_of, last_delivery

from .test_digest import DAY, NOW, SmtpSink, add_article, add_match, build_known

TRICKY = ("Roscosmos (cross-flight) [update]: ISS_extension talks go on as NASA_admin and "
          "Roscosmos_chief meet in Houston *today* #space `code` <b>")


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPACEWATCH_SMTP_USER", raising=False)
    monkeypatch.delenv("SPACEWATCH_SMTP_PASSWORD", raising=False)


@pytest.fixture
def known(store: Store) -> Store:
    return build_known(store)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    yield server
    server.close()


def closed_port() -> int:
    sock = socket.create_server(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def settings_for(port: int) -> Settings:
    return dataclasses.replace(Settings(), smtp=SmtpSettings(
        host="127.0.0.1", port=port, tls=False, sender="digest@spacewatch.test",
        to=("analyst@example.org", "desk@example.org")))


def received(server: SmtpSink, index: int = -1) -> EmailMessage:
    msg = email.message_from_bytes(server.messages[index][2], policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


class Waits:
    """A stand-in for sleeping between attempts: records each delay, never sleeps."""

    def __init__(self, then: object = None, stop: bool = False) -> None:
        self.delays: list[float] = []
        self.then = then
        self.stop = stop

    def __call__(self, seconds: float) -> bool:
        self.delays.append(seconds)
        if callable(self.then):
            self.then()
        return self.stop


# -- the plain-text part (12.13) ----------------------------------------------------------------


def test_plain_text_part_has_no_markdown_escapes_and_carries_every_title_and_url(
        known: Store, sink: SmtpSink) -> None:
    tricky = add_article(known, "t1", TRICKY, "2025-07-16T12:00:00Z", "wire",
                         url="https://news.example/tricky_(1)")
    add_match(known, tricky, "s2-lunar", 0.8, ["Roscosmos_chief"],
              ["Talks [resumed] (again) on ISS_extension."])
    deliver_digest(known, settings_for(sink.port), DAY, now=NOW, wait=Waits())
    msg = received(sink)
    part = msg.get_body(("plain",))
    assert part is not None
    text = part.get_content()
    assert "\\" not in text  # not one Markdown escape
    assert "**" not in text and "](" not in text and not re.search(r"^#", text, re.M)
    flat = " ".join(text.split())
    assert TRICKY in flat  # wrapped, but word for word
    assert "Talks [resumed] (again) on ISS_extension." in flat
    lines = text.splitlines()
    matches = [m for s in build_json(known)["seeds"] for m in s["matches"]]
    assert len(matches) == 5
    for m in matches:
        assert " ".join(m["title"].split()) in flat
        assert any(line.strip() == m["url"] for line in lines), m["url"]  # whole, own line
    assert all(len(line) <= 78 for line in lines if not line.strip().startswith("https://"))
    assert "SpaceWatch digest: Wednesday, 16 July 2025" in lines[0]


def build_json(store: Store) -> dict[str, object]:
    import json

    data: dict[str, object] = json.loads(build_digest(store, DAY, "json", "UTC", now=NOW))
    return data


def test_text_format_is_available_to_the_digest_command_too(known: Store) -> None:
    text = build_digest(known, DAY, "text", "UTC", now=NOW)
    assert "Bakanov meets Duffy in Houston" in text and "\\" not in text
    assert "- dead: disabled (10 errors): connect timeout" in text


# -- delivery with retries (12.5) ---------------------------------------------------------------


def test_deliver_digest_retries_with_backoff_and_records_every_attempt(known: Store) -> None:
    port = closed_port()
    waits = Waits()
    with pytest.raises(DigestError, match=rf"after 4 attempts.*cannot reach SMTP server "
                                          rf"127\.0\.0\.1:{port}"):
        deliver_digest(known, settings_for(port), DAY, now=NOW, wait=waits)
    assert waits.delays == [30.0, 120.0, 600.0]  # the default backoff, never slept here
    rows = deliveries_of(known, DAY)
    assert [(r.attempt, r.ok) for r in rows] == [(1, False), (2, False), (3, False),
                                                 (4, False)]
    assert all(r.channel == "email" and r.day == "2025-07-16" for r in rows)
    assert rows[0].recipients == "analyst@example.org, desk@example.org"
    assert all("cannot reach SMTP server" in (r.error or "") for r in rows)
    assert last_delivery(known) == rows[-1]


def test_deliver_digest_succeeds_when_the_server_comes_back(known: Store) -> None:
    port = closed_port()
    servers: list[SmtpSink] = []
    waits = Waits(then=lambda: servers or servers.append(SmtpSink(port=port)))
    try:
        delivery = deliver_digest(known, settings_for(port), DAY, now=NOW, wait=waits,
                                  delays=(5.0, 50.0))
        assert waits.delays == [5.0]
        assert delivery.ok and delivery.attempt == 2
        assert len(servers[0].messages) == 1
        assert received(servers[0])["Subject"] == \
            "SpaceWatch digest 2025-07-16: 4 stories, 4 matches"
    finally:
        for server in servers:
            server.close()
    assert [(r.attempt, r.ok, r.error is None) for r in deliveries_of(known, DAY)] == [
        (1, False, False), (2, True, True)]


def test_a_permanent_failure_is_recorded_once_and_not_retried(
        known: Store, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPACEWATCH_SMTP_USER", "u")
    monkeypatch.setenv("SPACEWATCH_SMTP_PASSWORD", "p")  # the sink offers no AUTH
    waits = Waits()
    with pytest.raises(DigestError, match="AUTH extension not supported"):
        deliver_digest(known, settings_for(sink.port), DAY, now=NOW, wait=waits)
    assert waits.delays == []
    assert [(r.attempt, r.ok) for r in deliveries_of(known, DAY)] == [(1, False)]


def test_retries_stop_when_the_wait_is_interrupted(known: Store) -> None:
    waits = Waits(stop=True)  # the daemon is shutting down
    with pytest.raises(DigestError, match="retries stopped"):
        deliver_digest(known, settings_for(closed_port()), DAY, now=NOW, wait=waits)
    assert waits.delays == [30.0]
    assert len(deliveries_of(known, DAY)) == 1


def test_deliver_digest_without_smtp_settings_is_a_clear_error(known: Store) -> None:
    with pytest.raises(DigestError, match="e-mail delivery is not configured"):
        deliver_digest(known, Settings(), DAY, now=NOW, wait=Waits())
    assert deliveries_of(known, DAY) == ()


# -- the command line and status ----------------------------------------------------------------


def write_feeds_yaml(tmp_path: Path, port: int | None, timezone: str = "UTC") -> Path:
    config = tmp_path / "feeds.yaml"
    smtp = ("  smtp: {host: 127.0.0.1, port: " + str(port) + ", tls: false, "
            "sender: digest@spacewatch.test, to: [analyst@example.org]}\n") if port else ""
    config.write_text("feeds: []\nsettings:\n"
                      f"  digest_timezone: {timezone}\n" + smtp, encoding="utf-8")
    return config


def test_digest_email_sends_the_chosen_days_digest_and_records_it(
        known: Store, sink: SmtpSink, tmp_path: Path) -> None:
    config = write_feeds_yaml(tmp_path, sink.port)
    result = CliRunner().invoke(cli, ["--db", str(known.path), "--config", str(config),
                                      "digest", "--email", "--date", "2025-07-16"])
    assert result.exit_code == 0, result.output
    assert "digest for 2025-07-16 e-mailed to analyst@example.org" in result.output
    assert received(sink)["Subject"] == "SpaceWatch digest 2025-07-16: 4 stories, 4 matches"
    assert [(r.ok, r.attempt) for r in deliveries_of(known, date(2025, 7, 16))] == [(True, 1)]


def test_digest_email_fails_with_one_clear_line_when_smtp_is_down(known: Store,
                                                                   tmp_path: Path) -> None:
    port = closed_port()
    config = write_feeds_yaml(tmp_path, port)
    args = ["--db", str(known.path), "--config", str(config), "digest", "--email", "--date",
            "2025-07-16"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert isinstance(result.exception, DigestError)
    assert f"cannot reach SMTP server 127.0.0.1:{port}" in str(result.exception)
    assert "\n" not in str(result.exception)
    assert [r.ok for r in deliveries_of(known, date(2025, 7, 16))] == [False]
    no_smtp = CliRunner().invoke(cli, ["--db", str(known.path), "--config",
                                       str(write_feeds_yaml(tmp_path, None)), "digest",
                                       "--email"])
    assert isinstance(no_smtp.exception, DigestError)
    assert "e-mail delivery is not configured" in str(no_smtp.exception)
    both = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "d.md")])
    assert both.exit_code != 0 and "--email" in str(both.exception or both.output)


def test_status_shows_the_last_delivery_and_how_to_resend(known: Store,
                                                          tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--db", str(known.path), "--config", str(tmp_path / "absent.yaml"), "status"]
    assert "last digest e-mail" not in runner.invoke(cli, args).output
    port = closed_port()
    with pytest.raises(DigestError):
        deliver_digest(known, settings_for(port), DAY, now=NOW, wait=Waits(),
                       delays=(1.0,))
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert re.search(r"last digest e-mail: 2025-07-16 to analyst@example.org, "
                     r"desk@example.org: FAILED at \S+ \(attempt 2\): cannot reach SMTP "
                     rf"server 127\.0\.0\.1:{port}: \[Errno 111\]", flat)  # [..] not markup
    assert "resend with: spacewatch digest --email --date 2025-07-16" in flat
    server = SmtpSink(port=port)
    try:
        deliver_digest(known, settings_for(port), DAY, now=NOW, wait=Waits())
    finally:
        server.close()
    flat = " ".join(runner.invoke(cli, args).output.split())
    assert re.search(r"last digest e-mail: 2025-07-16 to analyst@example.org, "
                     r"desk@example.org: sent at \S+ \(attempt 1\)", flat)
    assert "resend with" not in flat


# -- the daemon's digest job --------------------------------------------------------------------


def test_daemon_digest_job_writes_the_digest_and_records_failed_e_mail_attempts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.daemon import Daemon, DaemonOptions

    monkeypatch.setattr(digest_mod, "RETRY_DELAYS", (0.01, 0.01))
    config = write_feeds_yaml(tmp_path, closed_port(), timezone="Asia/Vladivostok")
    db = tmp_path / "d.db"
    daemon = Daemon(DaemonOptions(config, db, digest_dir=tmp_path / "digests"))
    daemon._digest_job()  # does not raise: the failure is logged and recorded
    with Store(db) as store:
        last = last_delivery(store)
        assert last is not None and not last.ok and last.attempt == 3
        day = date.fromisoformat(last.day)
        assert [r.attempt for r in deliveries_of(store, day)] == [1, 2, 3]
    assert (tmp_path / "digests" / f"digest-{day.isoformat()}.html").exists()


def test_a_restarted_daemon_does_not_e_mail_a_day_already_delivered(
        tmp_path: Path, sink: SmtpSink) -> None:
    """`run --digest-now` after the scheduled digest went out (a restart at 08:00, say)
    writes the digest again but sends the e-mail once; `digest --email` still resends."""
    from pipeline.daemon import Daemon, DaemonOptions

    config = write_feeds_yaml(tmp_path, sink.port)
    db = tmp_path / "d.db"
    Daemon(DaemonOptions(config, db, digest_dir=tmp_path / "digests"))._digest_job()
    Daemon(DaemonOptions(config, db, digest_dir=tmp_path / "digests"))._digest_job()
    assert len(sink.messages) == 1
    with Store(db) as store:
        day = date.fromisoformat(last_delivery(store).day)  # type: ignore[union-attr]
        assert [(r.ok, r.attempt) for r in deliveries_of(store, day)] == [(True, 1)]
    result = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), "digest",
                                      "--email", "--date", day.isoformat()])
    assert result.exit_code == 0, result.output
    assert len(sink.messages) == 2
