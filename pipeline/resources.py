"""Where the data SpaceWatch ships lives: the models folder and the sample seeds.

In the project they are the top-level ``models/`` and ``seeds/`` folders (the project's
layout, also what an editable install sees); the wheel carries them inside the package as
``pipeline/models`` and ``pipeline/bundled_seeds`` (``[tool.setuptools.package-dir]`` in
pyproject.toml). They are found by path, not ``importlib.resources``: an editable install
does not map those two folders into the package.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def default_models_dir() -> Path:
    """The bundled models folder (gazetteer, titles, countries): ``pipeline/models`` in an
    installed wheel, else the project's top-level ``models/``."""
    inside = PACKAGE_DIR / "models"
    return inside if inside.is_dir() else PACKAGE_DIR.parent / "models"


def bundled_seeds_dir() -> Path:
    """The sample seed stories: ``pipeline/bundled_seeds`` in an installed wheel, else the
    project's top-level ``seeds/``."""
    inside = PACKAGE_DIR / "bundled_seeds"
    return inside if inside.is_dir() else PACKAGE_DIR.parent / "seeds"
