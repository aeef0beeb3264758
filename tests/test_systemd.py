"""Running under systemd: the shipped unit verifies, the daemon logs journald-style lines when
its stderr is the journal, and the unit's ExecReload (SIGHUP) reloads it."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.cli.journal import JournalFormatter, stderr_is_journal

from .processes import kill_marked, left_after, marked_env

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "spacewatch.service"
SPACEWATCH = Path(sys.executable).parent / "spacewatch"


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_unit_runs_the_daemon_as_its_own_user_restarts_on_failure_and_reloads_on_hup(
) -> None:
    unit = unit_settings()
    exec_start = unit["ExecStart"][0].split()
    assert exec_start[0].endswith("/bin/spacewatch") and exec_start[0].startswith("/")
    assert exec_start[exec_start.index("--db") + 1].startswith("/")
    assert exec_start[exec_start.index("--config") + 1].startswith("/")
    assert "run" in exec_start
    assert unit["Restart"] == ["on-failure"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["KillSignal"] == ["SIGTERM"]
    assert unit["User"] == ["spacewatch"]
    assert unit["NoNewPrivileges"] == ["yes"] and unit["ProtectSystem"] == ["strict"]
    assert unit["PrivateTmp"] == ["yes"]
    data = unit["WorkingDirectory"][0]
    assert data in unit["ReadWritePaths"]
    assert exec_start[exec_start.index("--db") + 1].startswith(data + "/")


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    # verify checks that ExecStart's program exists: point it at this venv's spacewatch.
    program = unit_settings()["ExecStart"][0].split()[0]
    unit = tmp_path / "spacewatch.service"
    unit.write_text(UNIT.read_text().replace(program, str(SPACEWATCH)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            timeout=120)
    complaints = [line for line in (result.stdout + result.stderr).splitlines()
                  if "spacewatch.service" in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr


# -- journald-friendly log lines -------------------------------------------------------------


def record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("spacewatch.daemon", level, __file__, 1, message, None, None)


def test_journal_lines_carry_the_syslog_priority_and_no_timestamp() -> None:
    formatter = JournalFormatter()
    assert formatter.format(record(logging.INFO, "daemon started")) == "<6>daemon started"
    assert formatter.format(record(logging.WARNING, "job missed")) == "<4>job missed"
    assert formatter.format(record(logging.ERROR, "job failed")) == "<3>job failed"
    assert formatter.format(record(logging.ERROR, "job failed: x\nTraceback\n  line")) == \
        "<3>job failed: x\n<3>Traceback\n<3>  line"


def test_journal_stream_counts_only_when_it_names_stderr_itself(tmp_path: Path) -> None:
    with open(tmp_path / "log", "w") as stream:
        info = os.fstat(stream.fileno())
        assert stderr_is_journal({"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}, stream)
        assert not stderr_is_journal({"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino + 1}"},
                                     stream)
        assert not stderr_is_journal({}, stream)
        assert not stderr_is_journal({"JOURNAL_STREAM": "garbage"}, stream)


class StderrLines:
    """Reads a child's stderr (the read end of a pipe) line by line on a thread."""

    def __init__(self, fd: int) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._stream = os.fdopen(fd, encoding="utf-8", errors="replace")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self._stream:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def wait_for(self, text: str, process: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if any(text in line for line in self.snapshot()):
                return True
            if process.poll() is not None and not self.thread.is_alive():
                return False
            time.sleep(0.1)
        return False


def test_run_under_journald_logs_priorities_without_timestamps_and_reloads_on_sighup(
        tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds: []\n")
    read_end, write_end = os.pipe()
    info = os.fstat(write_end)
    marker, env = marked_env()
    env["JOURNAL_STREAM"] = f"{info.st_dev}:{info.st_ino}"  # what systemd sets
    process = subprocess.Popen(
        [str(SPACEWATCH), "--db", str(tmp_path / "sw.db"), "--config", str(config), "run",
         "--digest-dir", str(tmp_path / "digests")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=write_end, env=env,
        cwd=tmp_path)
    os.close(write_end)
    stderr = StderrLines(read_end)
    try:
        assert stderr.wait_for("daemon started", process), stderr.snapshot()
        process.send_signal(signal.SIGHUP)  # what the unit's ExecReload sends
        assert stderr.wait_for("reload:", process), stderr.snapshot()
        process.send_signal(signal.SIGTERM)  # the unit's KillSignal
        assert process.wait(timeout=60) == 0
        stderr.thread.join(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        kill_marked(marker)
    assert left_after(marker) == []
    lines = stderr.snapshot()
    assert "<6>reload: no change" in lines, lines
    assert lines[-1] == "<6>daemon stopped", lines
    assert all(re.match(r"<[2-7]>\S", line) for line in lines), lines
    assert not any(re.search(r"\d{4}-\d\d-\d\d", line) for line in lines), lines
