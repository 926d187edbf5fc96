"""Test hygiene in the manner of equinox: strict dtype promotion, rank promotion raises."""
import importlib.util
from pathlib import Path

import jax
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def load_bench(monkeypatch):
    """load_bench(NAME): the script bench/NAME.py imported as a module, with bench/ on sys.path
    (the scripts import their `_harness`) for the test's duration."""
    bench = Path(__file__).resolve().parents[1] / "bench"
    monkeypatch.syspath_prepend(str(bench))

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, bench / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
