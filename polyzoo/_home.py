"""Where polyzoo's files live: the one setting that finds the zoo, the recipes and the fitted
library, whether polyzoo runs from a source checkout or from an installed wheel.

    home()/checkpoints/    the zoo: manifest.json and one orbax checkpoint per entry
    home()/models/         the recipes (importable as polyzoo.recipes.NAME) and models/cards/
    home()/fitting/        the fitted polynomial library (library.json)

home() is `$POLYZOO_HOME` when set; else the source checkout polyzoo was imported from (an
editable install, or running in the repository); else the copy of those three directories
that the wheel carries inside the package (polyzoo/_zoo/, written by setup.py's build step).
"""
from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
BUNDLED = _PACKAGE / "_zoo"


def checkout() -> Path | None:
    """The source checkout this polyzoo was imported from, or None for an installed wheel."""
    root = _PACKAGE.parent
    return root if (root / "pyproject.toml").exists() and (root / "checkpoints").is_dir() else None


def home() -> Path:
    """$POLYZOO_HOME, else the source checkout, else the zoo bundled in the installed wheel."""
    if os.environ.get("POLYZOO_HOME"):
        return Path(os.environ["POLYZOO_HOME"])
    return checkout() or BUNDLED
