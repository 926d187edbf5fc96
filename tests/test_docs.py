"""The README is a guide of at most 200 lines and its tables are generated, never typed."""
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _render_module():
    spec = importlib.util.spec_from_file_location("render_results",
                                                  REPO / "bench" / "render_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_short():
    assert len((REPO / "README.md").read_text().splitlines()) <= 200


def test_rendered_tables_are_up_to_date():
    render = _render_module()
    rendered = render.tables()
    for path in render.TARGETS:
        text = path.read_text()
        assert "<!-- table:" in text, f"{path} has no generated table"
        assert render.render(text, rendered) == text, (
            f"{path.relative_to(REPO)} is out of date: run .venv/bin/python bench/render_results.py")


def test_every_zoo_entry_is_in_the_readme_table():
    import json

    manifest = json.loads((REPO / "checkpoints" / "manifest.json").read_text())
    text = (REPO / "README.md").read_text()
    for name in manifest["entries"]:
        assert f"| `{name}` |" in text
