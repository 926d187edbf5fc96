"""`pip install .` (not editable) stands on its own: the wheel carries the zoo, the recipes
and the fitted library, and an installed polyzoo finds them without the checkout.

The wheel is installed with --no-deps into a fresh venv that borrows the test venv's
dependencies through a .pth line (installing jax, Concrete-ML and torch again would take
minutes and gigabytes); the checkout's own editable polyzoo is not on that path.
"""
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(args, cwd, env, timeout=600):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYZOO_")}
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "-w", str(tmp / "dist"), str(REPO)], cwd=tmp, env=env)
    wheel = next((tmp / "dist").glob("polyzoo-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp, env=env)
    target = next((venv / "lib").glob("python3*/site-packages"))
    (target / "_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
          "-q", "--no-deps", str(wheel)], cwd=tmp, env=env)
    work = tmp / "elsewhere"  # not the checkout: nothing may be found through the cwd
    work.mkdir()
    return venv, work, env


def test_installed_polyzoo_lists_and_loads_the_zoo(installed):
    venv, work, env = installed
    listing = _run([str(venv / "bin" / "polyzoo"), "zoo", "list"], cwd=work, env=env)
    assert "vit-micro-mnist-qat" in listing and "bert-sentiment-exact" in listing
    out = _run([str(venv / "bin" / "python"), "-c", """
import numpy as np, polyzoo
from polyzoo import _home
assert 'site-packages' in str(_home.home()) and _home.checkout() is None, _home.home()
entry = polyzoo.load('vit-micro-mnist')
logits = entry.model.apply(entry.variables, np.zeros((2, 28, 28, 1), np.float32), train=False)
print(polyzoo.__file__, logits.shape)
"""], cwd=work, env=env)
    assert "site-packages" in out and "(2, 10)" in out, out


def test_installed_recipes_import_each_other(installed):
    venv, work, env = installed
    out = _run([str(venv / "bin" / "python"), "-c", """
from polyzoo.zoo.recipe import load_recipe
from polyzoo.fitting import library
r = load_recipe('bert_sentiment_poly')   # imports polyzoo.recipes.bert_sentiment_poly_act
print(r.name, r.recipe_file, len(library.load()))
"""], cwd=work, env=env)
    name, recipe_file, n_fits = out.split()
    assert name == "bert-sentiment-poly" and recipe_file == "models/bert_sentiment_poly.py"
    assert int(n_fits) > 0
