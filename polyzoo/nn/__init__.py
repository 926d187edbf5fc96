"""Replaceable nonlinearities and norms for HE-friendly transformers, and approximation specs.

    ApproxSpec, Site, Poly, PRESETS, get_spec     which form each site takes (plain data)
    ATTENTION_MENU                                every attention replacement, by name
    Choice, Cost, choices, get_choice             each choice's behaviour: computation,
                                                  polynomials, export, encrypted cost
    make_activation, Exact, Quad, PolyFn          activations
    AttentionWeights, AttentionChoice, Inhibitor  softmax and its replacements; attentions
    make_norm, LayerNorm, PolyLayerNorm, Affine, BatchNorm, Identity, fold_batchnorm
"""
from polyzoo.nn._activations import Exact, PolyFn, Quad, make_activation
from polyzoo.nn._attention import AttentionChoice, AttentionWeights, Inhibitor
from polyzoo.nn._functions import EXACT, chebyshev_init
from polyzoo.nn._norms import (Affine, BatchNorm, Identity, LayerNorm, PolyLayerNorm,
                               fold_batchnorm, make_norm)
from polyzoo.nn._presets import ATTENTION_MENU, PRESETS, get_spec
from polyzoo.nn._spec import POLY_FUNCTIONS, ApproxSpec, Poly, Site, site_kind
from polyzoo.nn._choice import KINDS, Choice, Cost, choices, get as get_choice

CHOICES: dict[str, dict[str, str]] = {
    kind: {name: c.summary for name, c in choices(kind).items()} for kind in KINDS}
"""Site kind ('act', 'softmax', 'norm') -> {choice: one-line summary}: every form a site may
take (docs/guide/approximations.md describes each)."""

__all__ = [
    'ApproxSpec', 'Site', 'Poly', 'PRESETS', 'ATTENTION_MENU', 'get_spec', 'CHOICES',
    'POLY_FUNCTIONS', 'site_kind',
    'Choice', 'Cost', 'choices', 'get_choice',
    'make_activation', 'Exact', 'Quad', 'PolyFn', 'EXACT', 'chebyshev_init',
    'AttentionWeights', 'AttentionChoice', 'Inhibitor',
    'make_norm', 'LayerNorm', 'PolyLayerNorm', 'Affine', 'BatchNorm', 'Identity', 'fold_batchnorm',
]
