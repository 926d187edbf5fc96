"""LayerNorm -> THE-X affine, initialised layer by layer by least squares.

THE-X (Chen et al. 2022) replaces each LayerNorm by a learned per-feature map x*g + b and
distils it. Starting that map from the LayerNorm's own (g, b) ignores the centring and the
1/sigma the LayerNorm applied, so the post-norm residual stream of a pretrained BERT is
rescaled by sigma at every layer and distillation diverges (measured here: NaN within 80 steps).
`fit_affine_norms` starts it instead at the best affine map: in forward order, each affine
site gets the per-feature least-squares fit of the LayerNorm's output on its input, measured
with every earlier site already replaced, so each fit sees the inputs it will really get.
"""
from __future__ import annotations

import jax
import numpy as np


def _layernorm(x, scale, bias, eps):
    """x (N, H) -> the exact LayerNorm output (N, H), float64 on the host."""
    xc = x - x.mean(-1, keepdims=True)
    return xc / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps) * scale + bias


def least_squares_affine(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None):
    """Per-feature (g, b) minimising sum_n w_n (x_nj g_j + b_j - y_nj)^2. x, y (N, H)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    w = np.ones(len(x)) if weight is None else np.asarray(weight, np.float64)
    w = w[:, None] / w.sum()
    mx, my = (w * x).sum(0), (w * y).sum(0)
    var = (w * (x - mx) ** 2).sum(0)
    cov = (w * (x - mx) * (y - my)).sum(0)
    g = np.where(var > 1e-12, cov / np.maximum(var, 1e-12), 0.0)
    return g.astype(np.float32), (my - g * mx).astype(np.float32)


def fit_affine_norms(model, variables: dict, batches, *, mask_input: int | None = None,
                     eps: float | None = None):
    """variables with every 'affine' norm site of `model` fitted to the LayerNorm it replaces.

    model: the model with affine norms (its params for those sites are the LayerNorm's g, b,
    as carried over from an exact stage). batches: list of input tuples; mask_input: index of
    the (B, S) 0/1 padding mask among them (padded tokens are left out of the fits).
    Returns (variables, report {site: relative RMS error of the affine map on its inputs}).
    """
    from polyzoo.models._sites import site_inputs
    from polyzoo.nn import Site

    eps = model.config.eps if eps is None else eps
    sites = [s for s in model.site_names() if model.spec.site(s).choice == "affine"]
    params = jax.tree.map(np.asarray, variables["params"])
    report = {}
    for k, site in enumerate(sites):
        # Sites before k are affine (already fitted), site k and later still LayerNorm.
        spec = model.spec.with_overrides({s: Site("layernorm") for s in sites[k:]})
        probe = model.clone(spec=spec)
        collect = jax.jit(lambda v, *a: site_inputs(
            probe.apply(v, *a, mutable=["intermediates"])[1])[site])
        xs = [np.asarray(collect({**variables, "params": params}, *b), np.float64)
              for b in batches]  # each (B, S, H)
        x = np.concatenate([a.reshape(-1, a.shape[-1]) for a in xs])
        weight = (None if mask_input is None else
                  np.concatenate([np.asarray(b[mask_input]).reshape(-1) for b in batches]))
        node = params
        for part in site.split("/"):
            node = node[part]
        y = _layernorm(x, node["scale"], node["bias"], eps)
        g, b = least_squares_affine(x, y, weight)
        keep = slice(None) if weight is None else weight > 0
        err = (x[keep] * g + b) - y[keep]
        report[site] = float(np.sqrt((err ** 2).mean() / max((y[keep] ** 2).mean(), 1e-30)))
        node["scale"], node["bias"] = g, b
    return {**variables, "params": params}, report
