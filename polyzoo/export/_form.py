"""The form in which a TFHE circuit best evaluates a model trained with polynomials for CKKS."""
from __future__ import annotations

import dataclasses


def tfhe_form(model):
    """`model` (a polyzoo BERT or ViT) with the same weights, each site in the form a TFHE
    circuit evaluates best: every polynomial clamped to its interval (`Poly.clamp`), and each
    attention normaliser's reciprocal exact (1 / mean, `aux` None) instead of its polynomial
    and Newton steps. Under TFHE a univariate function is one lookup whatever it computes, so
    neither costs a lookup more; without them, quantised to 6-bit grids, the Newton steps'
    encrypted products collapse (Concrete-ML then fails in its rounding of the normaliser's
    product) and an unclamped polynomial exp finds no crypto parameters (measured on the
    attention menu's Fashion ViTs, `bench/bench_menu_circuits.py`). Outside its intervals the
    result differs from the trained network's, which is what the clamp is for."""
    spec = model.spec

    def clamped(poly):
        return None if poly is None else dataclasses.replace(poly, clamp=True)

    def form(name):
        site = spec.site(name)
        aux = None if site.behaviour.kind == "softmax" else site.aux
        return dataclasses.replace(site, poly=clamped(site.poly), aux=clamped(aux))

    return model.clone(spec=spec.with_overrides({n: form(n) for n in model.site_names()}))
