"""``pip install .`` (not editable) gives a working SpaceWatch: the wheel carries the models
and the sample seeds, declares every package it imports, and ``spacewatch demo`` runs from
any folder in a venv made by ``python3.11 -m venv`` with the pip that venv ships.

The wheel is built from a copy of the project (the build writes ``build/`` next to its
sources), and its dependencies come from the package registry (pip's cache makes that quick);
the tests are skipped only when pip says the registry cannot be reached.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .processes import kill_marked, left_after, marked_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parent.parent
#: What the build reads: the package, the data folders mapped into it, the metadata.
BUILD_INPUTS = ("pyproject.toml", "README.md", "pipeline", "models", "seeds")
#: pip's words when the registry cannot be reached (any other install failure fails the test).
UNREACHABLE = ("Failed to establish a new connection", "Temporary failure in name resolution",
               "Network is unreachable", "Name or service not known", "ProxyError",
               "Connection refused", "Max retries exceeded", "No route to host",
               "Read timed out", "ConnectTimeoutError")
PIP_TIMEOUT = 1200


@dataclass(frozen=True)
class Installed:
    """A wheel built from the project and a fresh venv it is installed into."""

    wheel: Path
    venv: Path
    seconds: float


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without anything that would let the checkout or this venv leak in."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(extra)
    return env


def _pip(args: list[str], cwd: Path) -> str:
    """Run a pip command and return what it printed; skip when the registry is unreachable,
    fail on any other error."""
    try:
        done = subprocess.run(args, cwd=cwd, env=_clean_env(), capture_output=True, text=True,
                              timeout=PIP_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(args)} took more than {PIP_TIMEOUT}s: {exc.stderr!r}")
    if done.returncode != 0:
        output = done.stdout + done.stderr
        if any(marker in output for marker in UNREACHABLE):
            pytest.skip(f"the package registry is unreachable: {' '.join(args[2:4])} failed "
                        f"({next(m for m in UNREACHABLE if m in output)})")
        pytest.fail(f"{' '.join(args)} exited {done.returncode}:\n{output[-6000:]}")
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    started = time.monotonic()
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    dist = base / "dist"
    built = _pip([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                  str(dist), str(source)], cwd=base)
    # setuptools warns about a package-data folder that is not a listed package, and more.
    assert "BuildBackendWarning" not in built, built
    wheels = list(dist.glob("spacewatch-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {dist}, found {wheels}"
    venv = base / "venv"
    python311 = shutil.which("python3.11") or sys.executable
    subprocess.run([python311, "-m", "venv", str(venv)], cwd=base, env=_clean_env(),
                   check=True, timeout=300)
    # The pip that venv ships, as a user gets it: no upgrade first.
    _pip([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheels[0])],
         cwd=base)
    yield Installed(wheel=wheels[0], venv=venv, seconds=time.monotonic() - started)


def test_wheel_ships_the_models_the_sample_seeds_and_every_module(
        installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for data in ("gazetteer.yaml", "titles.yaml", "countries.yaml"):
        assert f"pipeline/models/{data}" in names
    seeds = sorted(p.name for p in (ROOT / "seeds").iterdir() if p.suffix in (".md", ".txt"))
    assert seeds, "the project has sample seeds"
    for seed in seeds:
        assert f"pipeline/bundled_seeds/{seed}" in names
    # A subpackage missing from pyproject's list, or data no package-data glob takes,
    # would be missing from the wheel.
    files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "pipeline").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts}
    assert "pipeline/demo_data/feeds/orbital-wire.xml" in files
    assert files - names == set()


def test_installed_wheel_runs_the_demo_from_an_empty_folder(
        installed: Installed, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    python = installed.venv / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import pipeline; print(pipeline.__file__)"],
                           cwd=elsewhere, env=_clean_env(), capture_output=True, text=True,
                           check=True, timeout=120)
    assert Path(where.stdout.strip()).is_relative_to(installed.venv), where.stdout

    out = tmp_path / "out"
    marker, env = marked_env()
    started = time.monotonic()
    try:
        done = subprocess.run([str(installed.venv / "bin" / "spacewatch"), "demo",
                               "--out", str(out)], cwd=elsewhere, env=_clean_env(**env),
                              capture_output=True, text=True, timeout=900)
    finally:
        left = left_after(marker, timeout=60)
        kill_marked(marker)
    demo_seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert left == [], f"processes left behind: {left}"

    db = out / "demo.db"
    assert db.is_file()
    con = sqlite3.connect(db)
    try:
        articles = con.execute("SELECT count(*) FROM articles").fetchone()[0]
        mentions = con.execute("SELECT count(*) FROM mentions").fetchone()[0]
        events = con.execute("SELECT count(*) FROM matches WHERE status = 'match'").fetchone()[0]
    finally:
        con.close()
    assert articles > 0
    assert mentions > 0
    assert events >= 1
    digests = list((out / "digests").glob("*.html"))
    assert digests and all(d.with_suffix(".md").is_file() for d in digests)
    assert not any(elsewhere.iterdir()), "the demo wrote into the current folder"
    print(f"\nwheel build + venv + install: {installed.seconds:.0f}s; demo: {demo_seconds:.0f}s")
