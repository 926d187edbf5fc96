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


def default_knobs(source: Source, *, n_bits: int | None = None, rounding: int | None = None,
                  p_error: float | None = None, global_p_error: float | None = None):
    """Knobs for exporting `source`: what the caller sets, else the bit-widths the entry was
    quantisation-aware trained for (rounding only when n_bits is theirs too), p_error 0.05."""
    from polyzoo.export import micro
    from polyzoo.export._compile import Knobs

    if n_bits is not None and not 2 <= n_bits <= 16:
        raise ValueError(f"n_bits {n_bits}: use 2..16 (4-6 keeps TFHE fast)")
    trained = source.meta.get("qat") or {"n_bits": micro.DEFAULT_BITS,
                                         "rounding_bits": micro.DEFAULT_ROUNDING}
    if rounding is None and n_bits is None:
        rounding = trained["rounding_bits"]
    if p_error is None and global_p_error is None:
        p_error = micro.DEFAULT_P_ERROR
    return Knobs(n_bits=n_bits or trained["n_bits"], rounding_threshold_bits=rounding,
                 p_error=p_error, global_p_error=global_p_error)


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
