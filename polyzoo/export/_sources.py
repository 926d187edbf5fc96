"""What `polyzoo export NAME` exports: a float function of the encrypted input plus its data.

NAME is, in order: 'vit-micro-mnist' (the QAT micro ViT built by polyzoo.export.micro, built on
first use), a path to a .msgpack written by polyzoo.export.micro, or a zoo entry
(polyzoo.zoo.load). ViTs with BatchNorm are folded first.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Callable

import numpy as np

MICRO_NAME = "vit-micro-mnist"
MICRO_PATH = Path("data/export/vit-micro-mnist.msgpack")


@dataclasses.dataclass
class Source:
    name: str
    fn: Callable                 # float logits of a (B, ...) float32 batch
    calibration: np.ndarray      # training inputs for Concrete-ML's calibration
    test_x: np.ndarray
    test_y: np.ndarray
    dataset: str
    meta: dict


def _micro(path: Path, name: str) -> Source:
    from polyzoo.export import micro
    from polyzoo.train.data import load_mnist

    if not path.exists() and name == MICRO_NAME:
        print(f"{path} missing: training the micro ViT (about a minute)")
        model, variables, extra = micro.build(micro.DEFAULT_BITS,
                                              rounding_bits=micro.DEFAULT_ROUNDING)
        micro.save(path, variables, extra.pop("float_params"), extra)
    model, variables, _, metrics = micro.load(path)
    ds = load_mnist()
    return Source(name, functools.partial(model.apply, variables), ds.train.inputs,
                  ds.test.inputs, ds.test.labels, "mnist", {"training": metrics})


def _zoo(name: str) -> Source:
    from polyzoo import models, zoo
    from polyzoo.train import data

    entry = zoo.load(name)
    model, variables = entry.model, entry.variables
    if isinstance(model.config, models.VitConfig):
        model, variables = models.fold_batchnorms(model, variables)
    else:
        raise ValueError(f"zoo entry {name!r} is a {type(model).__name__}: only image models "
                         "(ViT) export directly; BERT needs its embeddings computed on the "
                         "client (method='embed'), which `polyzoo export` does not do yet")
    dataset = entry.meta.get("dataset")
    ds = data.load(dataset)
    return Source(name, functools.partial(model.apply, variables), ds.train.inputs,
                  ds.test.inputs, ds.test.labels, dataset, {"zoo": entry.meta.get("metrics")})


def resolve(name: str) -> Source:
    """The Source for NAME (see the module docstring); unknown names list what is valid."""
    if name == MICRO_NAME:
        return _micro(MICRO_PATH, name)
    path = Path(name)
    if path.suffix == ".msgpack":
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: build one with "
                                    f"`python -m polyzoo.export.micro --out {path}`")
        return _micro(path, path.stem)
    try:
        from polyzoo import zoo
        names = zoo.names()
    except Exception as err:  # noqa: BLE001 - the zoo may not be installed yet
        raise ValueError(f"unknown model {name!r}: use {MICRO_NAME!r}, a .msgpack from "
                         f"polyzoo.export.micro, or a zoo entry (zoo unavailable: {err})") from err
    if name not in names:
        raise ValueError(f"unknown model {name!r}: use {MICRO_NAME!r}, a .msgpack from "
                         f"polyzoo.export.micro, or one of the zoo entries: "
                         f"{', '.join(names) or '(none published yet)'}")
    return _zoo(name)
