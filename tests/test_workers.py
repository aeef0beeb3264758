"""NER worker processes: same docs as in-process, gone with their parent, quiet on Ctrl-C.

``import`` of more than ``MIN_TEXTS_PER_PROCESS_POOL`` articles parses them in
``nlp_processes`` (default 2) forked workers. A SIGKILLed parent (the OOM killer) must take
them with it, and a Ctrl-C in a terminal (SIGINT to the whole process group) must end in one
line and exit 130, with the work resumable. Every process a test starts carries a marker in
its environment; each test asserts that none is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from bench.corpus import corpus
from pipeline.config import Settings
from pipeline.entities import MIN_TEXTS_PER_PROCESS_POOL, Analyzer, get_analyzer

from .processes import alive, kill_marked, left_after, marked_env, wait_for_children

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = MIN_TEXTS_PER_PROCESS_POOL + 20


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return get_analyzer(Settings())


def short_texts(n: int) -> list[str]:
    docs = corpus(n, seed=11, min_words=20, max_words=40)
    return [f"{d.title}\n\n{d.text}" for d in docs]


def test_worker_processes_find_what_the_main_process_finds(analyzer: Analyzer) -> None:
    texts = short_texts(MIN_TEXTS_PER_PROCESS_POOL)
    single = Analyzer(gazetteer=analyzer.gazetteer, titles=analyzer.titles,
                      countries=analyzer.countries, n_process=1)
    assert analyzer.n_process == 2
    assert list(analyzer.analyze(texts)) == list(single.analyze(texts))
    assert not [c for c in psutil.Process().children() if alive(c)]


def test_a_worker_killed_mid_stream_is_an_error_and_leaves_no_process(
        analyzer: Analyzer) -> None:
    stream = analyzer.analyze(short_texts(MIN_TEXTS_PER_PROCESS_POOL))
    next(stream)
    workers = [c for c in psutil.Process().children() if alive(c)]
    assert len(workers) == 2
    workers[0].kill()
    with pytest.raises(RuntimeError, match="NER worker process .* died"):
        list(stream)  # a NER error: run_entities goes on article by article
    assert not [c for c in psutil.Process().children() if alive(c)]


def write_archive(folder: Path) -> Path:
    """An import file big enough for worker processes, and the seeds to match against."""
    shutil.copytree(ROOT / "seeds", folder / "seeds")
    lines = [json.dumps({"id": f"a{i:03d}", "title": doc.title, "text": doc.text,
                         "published": "2025-07-15T10:00:00Z"})
             for i, doc in enumerate(corpus(ARTICLES, seed=3, min_words=60, max_words=120))]
    archive = folder / "archive.jsonl"
    archive.write_text("\n".join(lines) + "\n")
    return archive


def import_command(folder: Path, archive: Path) -> list[str]:
    return [sys.executable, "-m", "pipeline", "--db", str(folder / "t.db"), "--config",
            str(folder / "none.yaml"), "import", str(archive)]


@pytest.mark.slow
def test_sigkilled_import_takes_its_worker_processes_with_it(tmp_path: Path) -> None:
    marker, env = marked_env()
    command = import_command(tmp_path, write_archive(tmp_path))
    with open(tmp_path / "out.log", "wb") as log:
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:
        workers = wait_for_children(proc.pid, 2)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        left = left_after(marker)
        assert not left, f"left running: {[p.pid for p in left]} (workers {workers})"
    finally:
        proc.kill()
        proc.wait()
        kill_marked(marker)


@pytest.mark.slow
def test_ctrl_c_during_import_ends_in_one_line_and_a_rerun_completes(tmp_path: Path) -> None:
    marker, env = marked_env()
    command = import_command(tmp_path, write_archive(tmp_path))
    err = tmp_path / "err.log"
    with open(tmp_path / "out.log", "wb") as out, open(err, "wb") as errors:
        # Its own process group, as a shell runs a command: the terminal's Ctrl-C goes to
        # every process of the group, the workers too.
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=errors,
                                start_new_session=True)
    try:
        wait_for_children(proc.pid, 2)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 130
        stderr = err.read_text()
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
        assert [line for line in stderr.splitlines()
                if line.strip() in ("aborted", "interrupted")] == [stderr.strip().splitlines()[-1]]
        assert not left_after(marker)

        rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                               timeout=900)
        assert rerun.returncode == 0, rerun.stderr
        assert not left_after(marker)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        kill_marked(marker)
    conn = sqlite3.connect(tmp_path / "t.db")
    try:
        assert conn.execute("SELECT count(*), count(DISTINCT guid) FROM articles").fetchone() \
            == (ARTICLES, ARTICLES)
        assert conn.execute("SELECT count(*) FROM articles WHERE nlp_version IS NULL "
                            "OR match_version IS NULL").fetchone()[0] == 0
        assert conn.execute(
            'SELECT count(*) FROM (SELECT 1 FROM mentions GROUP BY article_id, start, "end", '
            "entity_id HAVING count(*) > 1)").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM mentions").fetchone()[0] > ARTICLES
    finally:
        conn.close()
