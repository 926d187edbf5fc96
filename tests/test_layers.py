"""The package's architecture, checked on its source: layers import downward only, and one
module owns each outside engine whose API moves (Concrete-ML, orbax, JAX internals)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "polyzoo"
# Lowest first: a module may import its own layer and those before it, never one after.
LAYERS = ("_home", "_names", "_jaxpr", "fitting", "nn", "models", "train", "zoo", "export",
          "serving", "recipes", "commands", "cli")
OWNERS = {"concrete": "export/_concrete.py", "orbax": "train/checkpoint.py",
          "jax._src": "_jaxpr.py", "jax.extend": "_jaxpr.py"}


def _imports(path: Path):
    """(line, dotted module) of every absolute import in the file, lazy ones included."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            if node.module.split(".")[0] == "polyzoo":  # from polyzoo.export import qat
                yield from ((node.lineno, f"{node.module}.{a.name}") for a in node.names)


def _sources():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def test_layers_import_downward_only():
    upward = []
    for path in _sources():
        here = _layer(path)
        if here not in LAYERS:
            continue
        for line, module in _imports(path):
            parts = module.split(".")
            if parts[0] == "polyzoo" and len(parts) > 1 and parts[1] in LAYERS \
                    and LAYERS.index(parts[1]) > LAYERS.index(here):
                upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert not upward, "layers import downward only:\n" + "\n".join(upward)


def test_every_top_level_module_has_a_layer():
    names = {p.name.removesuffix(".py") for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "__init__.py"}
    assert names <= set(LAYERS), f"place {sorted(names - set(LAYERS))} in LAYERS"


@pytest.mark.parametrize("engine", sorted(OWNERS))
def test_one_module_owns_each_engine(engine):
    users = {str(path.relative_to(PACKAGE)) for path in _sources()
             for _, module in _imports(path)
             if module == engine or module.startswith(engine + ".")}
    assert users <= {OWNERS[engine]}, f"{engine} is imported outside {OWNERS[engine]}: {users}"


def test_tests_mirror_the_package():
    tests = Path(__file__).resolve().parent
    folders = {d.name for d in tests.iterdir() if d.is_dir() and not d.name.startswith(("_", "."))}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders - {"helpers"} <= packages, f"test folders without a package: {folders - packages}"
    loose = sorted(p.name for p in tests.glob("test_*.py"))
    assert loose == ["test_docs.py", "test_layers.py", "test_package.py"], (
        f"put {loose} under tests/<package>/ (only whole-project checks stay at the top)")


def test_commands_and_benchmarks_use_public_names_only():
    """The CLI and the benchmarks are users of the library: they import what `__all__` offers,
    never a private module (a name they need is made public instead)."""
    users = sorted((PACKAGE / "commands").glob("*.py")) + [PACKAGE / "cli.py"]
    users += sorted((PACKAGE.parent / "bench").glob("*.py"))
    private = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
               for path in users for line, module in _imports(path)
               if module.startswith("polyzoo")
               and any(part.startswith("_") for part in module.split(".")[1:])]
    assert not private, "import public names instead:\n" + "\n".join(private)
