"""What `polyzoo export NAME` exports: a float function of the encrypted input plus its data.

NAME is a zoo entry (polyzoo.zoo.load); the default, 'vit-micro-mnist-qat', is the zoo's
FHE-sized model (the QAT micro ViT, `polyzoo train vit_micro_mnist_qat`). ViTs with BatchNorm
are folded first.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np

MICRO_NAME = "vit-micro-mnist-qat"  # the zoo's FHE-sized model


@dataclasses.dataclass
class Source:
    name: str
    fn: Callable                 # float logits of a (B, ...) float32 batch
    calibration: np.ndarray      # training inputs for Concrete-ML's calibration
    test_x: np.ndarray
    test_y: np.ndarray
    dataset: str
    meta: dict


def _zoo(name: str) -> Source:
    from polyzoo import models, zoo
    from polyzoo.train import data

    entry = zoo.load(name)
    model, variables = entry.model, entry.variables
    if isinstance(model.config, models.VitConfig):
        if any(model.spec.site(s).choice == "batchnorm" for s in model.site_names()):
            model, variables = models.fold_batchnorms(model, variables)
    else:
        raise ValueError(f"zoo entry {name!r} is a {type(model).__name__}: only image models "
                         "(ViT) export directly; BERT needs its embeddings computed on the "
                         "client (method='embed'), which `polyzoo export` does not do yet")
    dataset = entry.meta.get("dataset")
    ds = data.load(dataset)
    return Source(name, functools.partial(model.apply, variables), ds.train.inputs,
                  ds.test.inputs, ds.test.labels, dataset,
                  {"zoo": entry.meta.get("metrics"),
                   **({"qat": entry.meta["qat"]} if entry.meta.get("qat") else {})})


def resolve(name: str) -> Source:
    """The Source for zoo entry NAME; unknown names list what is valid."""
    from polyzoo import zoo

    names = zoo.names()
    if name not in names:
        hint = (f" ({MICRO_NAME!r} is built by `polyzoo train vit_micro_mnist_qat`)"
                if name == MICRO_NAME else "")
        raise ValueError(f"unknown model {name!r}{hint}: use one of the zoo entries: "
                         f"{', '.join(names) or '(none published yet)'}")
    return _zoo(name)
