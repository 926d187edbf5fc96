"""The wheel carries the zoo: checkpoints/, models/ (recipes, cards) and fitting/ (the fitted
library) are copied into polyzoo/_zoo/ at build time, where polyzoo._home finds them once
installed. An editable install reads them from the checkout instead, so nothing is copied."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ZOO_DIRS = ("checkpoints", "models", "fitting")


class BuildWithZoo(build_py):
    def run(self):
        editable = getattr(self, "editable_mode", False)
        if not editable:  # a build/ left by an earlier wheel may hold modules since removed
            shutil.rmtree(Path(self.build_lib) / "polyzoo", ignore_errors=True)
        super().run()
        if editable:
            return
        target = Path(self.build_lib) / "polyzoo" / "_zoo"
        for name in ZOO_DIRS:
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(Path(name), target / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithZoo})
