"""``settings.models_dir``: one's own gazetteer, and where the bundled models are found
(the project's ``models/`` in a checkout, ``pipeline/models`` inside an installed wheel)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import yaml

from pipeline.config import Settings, load_config, parse_config
from pipeline.entities import get_analyzer, load_titles
from pipeline.errors import ConfigError
from pipeline.gazetteer import load_gazetteer
from pipeline.resources import bundled_seeds_dir, default_models_dir

from .test_bad_input import run_main

ROOT = Path(__file__).resolve().parent.parent
FEEDS = "feeds:\n  - name: Local\n    url: http://127.0.0.1:9/feed.xml\n"


def own_models(folder: Path) -> Path:
    """A models folder with only a gazetteer.yaml: the bundled one plus a made-up agency."""
    folder.mkdir(parents=True)
    data = yaml.safe_load((default_models_dir() / "gazetteer.yaml").read_text())
    data["entities"].append({"id": "zorblax-agency", "name": "Zorblax Space Agency",
                             "kind": "AGENCY", "aliases": ["Zorblax Space Agency"]})
    (folder / "gazetteer.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    return folder


def write_feeds(folder: Path, models_dir: str) -> Path:
    path = folder / "feeds.yaml"
    path.write_text(FEEDS + f"settings:\n  models_dir: {models_dir}\n")
    return path


def test_bundled_models_and_seeds_are_the_projects_folders_in_a_checkout() -> None:
    assert default_models_dir() == ROOT / "models"
    assert bundled_seeds_dir() == ROOT / "seeds"
    assert Settings().models_folder == ROOT / "models"


def test_inside_an_installed_package_the_models_and_seeds_beside_the_code_are_used(
        tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "pipeline"
    (package / "models").mkdir(parents=True)
    (package / "bundled_seeds").mkdir()
    shutil.copy(ROOT / "pipeline" / "resources.py", package / "resources.py")
    spec = importlib.util.spec_from_file_location("wheel_resources", package / "resources.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.default_models_dir() == package / "models"
    assert module.bundled_seeds_dir() == package / "bundled_seeds"


def test_models_dir_is_relative_to_the_folder_of_feeds_yaml(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    models = own_models(tmp_path / "deploy" / "my-models")
    config_path = write_feeds(tmp_path / "deploy", "my-models")
    monkeypatch.chdir(tmp_path)  # not the folder of feeds.yaml
    settings = load_config(config_path).settings
    assert Path(settings.models_dir).is_absolute()
    assert settings.models_folder == models.resolve()


@pytest.mark.parametrize(("make", "problem"), [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "has no gazetteer.yaml"),
    (lambda p: p.write_text("not a folder"), "is not a folder"),
])
def test_a_models_dir_without_a_gazetteer_is_refused_when_the_config_is_read(
        tmp_path: Path, make, problem: str) -> None:
    target = tmp_path / "models-here"
    make(target)
    with pytest.raises(ConfigError) as caught:
        load_config(write_feeds(tmp_path, "models-here"))
    message = str(caught.value)
    assert str(target.resolve()) in message
    assert problem in message
    assert "settings.models_dir" in message
    assert "\n" not in message


def test_an_empty_models_dir_means_the_bundled_models() -> None:
    settings = parse_config(FEEDS + "settings:\n  models_dir: ''\n").settings
    assert settings.models_dir == ""
    assert settings.models_folder == default_models_dir()


def test_a_bad_models_dir_is_one_line_and_exit_2_before_any_model_loads(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_path = write_feeds(tmp_path, "nowhere")
    code, out, err = run_main(["--db", str(tmp_path / "t.db"), "--config", str(config_path),
                               "analyze"], capsys, stdin="NASA met Roscosmos.")
    assert code == 2
    assert out == ""
    assert err.strip().count("\n") == 0
    assert f"settings.models_dir: {(tmp_path / 'nowhere').resolve()} does not exist" in err
    assert "Traceback" not in err


def test_own_gazetteer_is_used_and_its_hash_is_part_of_the_nlp_version(
        tmp_path: Path) -> None:
    own_models(tmp_path / "models")
    settings = load_config(write_feeds(tmp_path, "models")).settings
    analyzer = get_analyzer(settings)
    own = load_gazetteer(tmp_path / "models" / "gazetteer.yaml")
    bundled = load_gazetteer()
    assert own.version != bundled.version
    # The version recorded on every article: switching models_dir makes articles stale.
    assert f"+gaz-{own.version}+" in analyzer.version
    assert f"+gaz-{bundled.version}+" not in analyzer.version
    # titles.yaml and countries.yaml are not in the folder: the bundled ones are used.
    assert analyzer.titles.version == load_titles().version
    mentions = analyzer.analyze_one("The Zorblax Space Agency met NASA in Houston on Monday.")
    assert {"zorblax-agency", "nasa"} <= {m.entity_id for m in mentions}


def test_seed_boosts_may_name_entities_of_ones_own_gazetteer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    own_models(tmp_path / "models")
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "zorblax.md").write_text(
        "---\nboosts:\n  entities:\n    zorblax-agency: 2.0\n---\n"
        "The Zorblax Space Agency signs a cooperation agreement with NASA on lunar landers, "
        "crew training and a shared station module, its director said in Houston.\n")
    config_path = write_feeds(tmp_path, "models")
    code, out, err = run_main(["--db", str(tmp_path / "t.db"), "--config", str(config_path),
                               "seeds"], capsys)
    assert code == 0, err
    assert "zorblax" in out
    assert "warning" not in err and "unknown" not in err, err


@pytest.mark.parametrize("name", ["gazetteer.yaml", "titles.yaml", "countries.yaml"])
def test_a_yaml_error_in_ones_own_models_is_one_line_with_file_line_and_column(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    models = own_models(tmp_path / "models")
    (models / name).write_text("entities:\n  - {id: x, name: [unclosed\n")
    config_path = write_feeds(tmp_path, "models")
    code, out, err = run_main(["--db", str(tmp_path / "t.db"), "--config", str(config_path),
                               "analyze"], capsys, stdin="NASA met Roscosmos.")
    assert code == 2
    assert out == ""
    assert err.strip().count("\n") == 0, err
    assert f"{models / name}:3:1: not valid YAML" in err
