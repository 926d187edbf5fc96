"""The README is a guide of at most 200 lines and its tables are generated, never typed."""
import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_is_short():
    assert len((REPO / "README.md").read_text().splitlines()) <= 200


def test_rendered_tables_are_up_to_date(load_bench):
    render = load_bench("render_results")
    rendered = render.tables()
    for path in render.TARGETS:
        text = path.read_text()
        assert "<!-- table:" in text, f"{path} has no generated table"
        assert render.render(text, rendered) == text, (
            f"{path.relative_to(REPO)} is out of date: run .venv/bin/python bench/render_results.py")


def test_every_zoo_entry_is_in_the_readme_table():
    """A row each, except the attention-menu variants, which the line below the table names."""
    import json

    manifest = json.loads((REPO / "checkpoints" / "manifest.json").read_text())
    text = (REPO / "README.md").read_text()
    for name in manifest["entries"]:
        assert f"| `{name}` |" in text or f"`{name}` " in text.split("And the attention menu")[-1]


def test_the_readme_table_folds_the_menu_entries_into_one_line(load_bench):
    render = load_bench("_tables_zoo")
    baseline = {"name": "mlp-256", "accuracy": 0.9}
    entry = {"dataset": "fashion_mnist", "metrics": {"accuracy": 0.91}, "baseline": baseline}
    manifest = {"entries": {"vit-fashion-poly": entry, "vit-fashion-poly-inhibitor": entry}}
    menu = {"rows": [{"attention": "pointwise-gelu", "entry": "vit-fashion-poly"},
                     {"attention": "inhibitor", "entry": "vit-fashion-poly-inhibitor"},
                     {"attention": "power", "entry": "vit-fashion-poly-power"}]}
    fold = render.menu_entries(manifest, menu)
    # the recipe's own entry keeps its row; an unpublished menu row is not in the zoo
    assert fold == ["vit-fashion-poly-inhibitor"]
    table = render.zoo_table(manifest, None, fold)
    assert "| `vit-fashion-poly` |" in table and "| `vit-fashion-poly-inhibitor` |" not in table
    assert "(`vit-fashion-poly-inhibitor` 91.00%)" in table
    assert render.zoo_table(manifest, None).count("| `vit-fashion-poly") == 2



def test_the_encrypted_column_reads_only_records_of_the_current_checkpoint(load_bench):
    render = load_bench("_tables_zoo")
    from _harness import checkpoint_digest  # bench/ is on sys.path now
    baseline = {"name": "mlp-256", "accuracy": 0.95}
    entry = {"dataset": "mnist", "metrics": {"accuracy": 0.97}, "baseline": baseline,
             "qat": {}, "files": {"a": "1"}}
    manifest = {"entries": {"micro": entry, "retrained": {**entry, "files": {"a": "2"}}}}
    now = checkpoint_digest(entry)
    row = {"checkpoint": now, "simulated_accuracy": 0.94, "n_sim": 2000}
    records = {
        "zoo_latency": {"date": "2026-01-02", "entries": [
            {**row, "model": "micro"}, {**row, "model": "retrained"}]},
        "encrypted_peer": {"date": "2026-01-01",
                           "polyzoo": {**row, "model": "micro", "simulated_accuracy": 0.5}},
    }
    simulated = render.simulated_accuracies(manifest, records)
    # the newer record wins; a record of an earlier checkpoint does not count
    assert simulated["micro"]["accuracy"] == 0.94 and "retrained" not in simulated
    table = render.zoo_table(manifest, None, simulated=simulated)
    assert "| 97.00% | - | mlp-256 95.00% | +2.00 | 94.00% (n=2,000; -1.00 **behind**) |" in table
    assert "| `retrained` |" in table and table.endswith("| no current record |")

# ----------------------------------------------------------- the records the tables come from


def test_a_record_is_dirty_only_when_code_changed(load_bench, tmp_path):
    load_bench  # puts bench/ on sys.path
    import _harness as harness

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       cwd=tmp_path, check=True, capture_output=True)

    files = {"bench/results/run.json": "{}", "bench/bench_x.py": "", "docs/page.md": "",
             "README.md": "", "polyzoo/model.py": ""}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "x")
    assert not harness._commit(tmp_path).endswith("+dirty")
    for name in ("bench/results/run.json", "docs/page.md", "README.md"):  # what a run rewrites
        (tmp_path / name).write_text("changed")
    assert not harness._commit(tmp_path).endswith("+dirty")
    for name in ("polyzoo/model.py", "bench/bench_x.py"):  # what it measures
        (tmp_path / name).write_text("changed")
        assert harness._commit(tmp_path).endswith("+dirty"), name
        git("checkout", "-q", name)


# ----------------------------------------------------------------------------- the docs site

API_PACKAGES = ("polyzoo.fitting", "polyzoo.nn", "polyzoo.models", "polyzoo.train",
                "polyzoo.zoo", "polyzoo.export", "polyzoo.serving")
CONSTANTS = (bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)


def _docstring(obj) -> str:
    """obj's own docstring, '' when it has none; the signature a dataclass or NamedTuple
    writes in place of a missing docstring does not count."""
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    doc = (doc or "").strip()
    return "" if doc.startswith(f"{getattr(obj, '__name__', '')}(") else doc


def test_docs_build_strictly(tmp_path):
    """`mkdocs build --strict`: no broken link, no page left out of the nav, no API warning."""
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"


def test_every_public_name_has_a_docstring():
    """Every name in the API packages' __all__ (the API reference pages) has a docstring;
    plain constants are exempt (their docs are attribute docstrings, which only the docs see)."""
    missing = []
    for package in API_PACKAGES:
        module = importlib.import_module(package)
        assert getattr(module, "__all__", None), f"{package} has no __all__"
        for name in module.__all__:
            obj = getattr(module, name, None)
            if obj is None:  # a sub-module listed in __all__ but not imported by the package
                obj = importlib.import_module(f"{package}.{name}")
            if isinstance(obj, CONSTANTS):
                continue
            if not _docstring(obj):
                missing.append(f"{package}.{name}")
    assert not missing, f"public names without a docstring: {', '.join(missing)}"
