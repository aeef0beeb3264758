"""Every benchmark runs at a tiny size, so none can rot. No timing is asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import fetch_concurrency, ingest, ner_speed, scale, semantic, soak, xml_bomb

from .processes import kill_marked, left_after, marked, marked_env

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_ner_speed_smoke(capsys) -> None:
    result = ner_speed.main(["--docs", "4"])
    assert result["full_wps"] > 0 and result["stage_wps"] > 0
    assert "ratio stage/full-pipeline" in capsys.readouterr().out


def test_russian_ner_speed_smoke(capsys) -> None:
    result = ner_speed.main(["--language", "ru", "--docs", "3", "--rounds", "2"])
    assert result["full_wps"] > 0 and result["stage_wps"] > 0
    assert "ratio stage/model-only" in capsys.readouterr().out


def test_memory_smoke_leaves_no_child() -> None:
    # In its own process: multiprocessing's spawn start leaves a resource tracker that lives
    # as long as the process that spawned, which would be the test session.
    marker, env = marked_env()
    code = ("import json; from bench import memory; "
            "print(json.dumps(memory.main(['--docs', '2'])))")
    try:
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        assert "Russian stack" in done.stdout
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["both_mb"] > result["english_mb"] > 0
        assert not left_after(marker)
    finally:
        kill_marked(marker)


def test_memory_child_dies_with_a_killed_benchmark() -> None:
    marker, env = marked_env()
    bench = subprocess.Popen([sys.executable, str(ROOT / "bench" / "memory.py"), "--docs", "2"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not any("spawn_main" in " ".join(p.cmdline()) for p in marked(marker)):
            assert time.monotonic() < deadline, "the benchmark started no child"
            time.sleep(0.2)
        bench.kill()
        bench.wait()
        assert not left_after(marker)
    finally:
        kill_marked(marker)


def test_ingest_smoke(capsys) -> None:
    result = ingest.main(["--feeds", "2", "--items", "3", "--naive-sample", "2"])
    assert result["stored"] == 6
    assert "ratio ingest/floor" in capsys.readouterr().out


def test_fetch_concurrency_smoke() -> None:
    result = fetch_concurrency.main(["--feeds", "6", "--delay", "0.05"])
    assert result["not_modified"] == 6
    assert result["second_parses"] == 0 and result["second_ner"] == 0


def test_scale_smoke(capsys) -> None:
    result = scale.main(["--articles", "300", "--mentions", "3000", "--matches", "40"])
    assert result["size_per_1000_mb"] > 0
    assert "NO" not in [line.split()[-1] for line in capsys.readouterr().out.splitlines()
                        if line.rstrip().endswith(("yes", "NO"))]


def test_soak_smoke() -> None:
    result = soak.main(["--feeds", "2", "--seconds", "8"])
    assert result["fetches"] > 2 and result["mean_mb"] > 0


def test_story_assign_smoke(capsys) -> None:
    from bench import story_assign

    result = story_assign.main(["--small", "50", "--large", "200", "--articles", "3"])
    assert result["small_ms"] > 0 and result["large_ms"] > 0
    assert "ratio" in capsys.readouterr().out


def test_xml_bomb_smoke(capsys) -> None:
    xml_bomb.main()
    out = capsys.readouterr().out
    assert "with defuse_xml" in out and "feedparser alone" in out


def test_semantic_reference_runs_or_says_why_not(capsys) -> None:
    result = semantic.main()
    out = capsys.readouterr().out
    if result is None:
        assert "skipped: the semantic extra is not installed" in out
    else:
        assert 0.0 <= result["minilm_ap"] <= 1.0 and "MiniLM" in out


def test_alert_latency_smoke(capsys) -> None:
    from bench import alert_latency

    result = alert_latency.main(["--trials", "1"])
    assert result["trials"] == 1 and result["max_s"] > 0
    assert "alert latency over 1 trials" in capsys.readouterr().out
