"""Replaceable norms: exact LayerNorm, BatchNorm (+ folding), THE-X affine, polynomial-rsqrt LN.

All take (x (..., H), train) and sow their input as intermediates[<path>]['input'].
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from polyzoo.nn import _choice as choice
from polyzoo.nn._activations import PolyFn, sow_input
from polyzoo.nn._choice import Choice, Cost, poly_cost, register
from polyzoo.nn._functions import newton_rsqrt
from polyzoo.nn._batch_norm import batch_normalise
from polyzoo.nn._reduce import mean_last
from polyzoo.nn._spec import MAX_NEWTON, Site


def _affine_params(module: nn.Module, h: int):
    scale = module.param('scale', nn.initializers.ones_init(), (h,), jnp.float32)
    bias = module.param('bias', nn.initializers.zeros_init(), (h,), jnp.float32)
    return scale, bias


def _row(p, x):
    """A per-feature vector (H,) reshaped to x's rank (1, ..., 1, H)."""
    return p.reshape((1,) * (x.ndim - 1) + (-1,))


def _centre(x):
    """x - mean(x) and the biased variance over the last axis (sums times the constant 1/H,
    taken as products with a ones vector: see _reduce)."""
    xc = x - mean_last(x)
    return xc, mean_last(xc * xc)


class LayerNorm(nn.Module):
    """Exact LayerNorm (biased variance, eps inside the square root, as BERT)."""
    eps: float = 1e-12

    @nn.compact
    def __call__(self, x, train: bool = False):
        sow_input(self, x)
        scale, bias = _affine_params(self, x.shape[-1])
        xc, var = _centre(x)
        return xc * jax.lax.rsqrt(var + self.eps) * _row(scale, x) + _row(bias, x)


class PolyLayerNorm(nn.Module):
    """LayerNorm whose 1/sqrt(var + eps) is a polynomial `site.poly` (Zimerman et al. ICML
    2024), refined by `int(site.param)` Newton steps (`newton_rsqrt`; 0: the polynomial as is)."""
    site: Site
    eps: float = 1e-12
    reference: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        sow_input(self, x)
        scale, bias = _affine_params(self, x.shape[-1])
        xc, var = _centre(x)
        v = var + self.eps
        inv = PolyFn(self.site.poly, reference=self.reference, name='rsqrt')(v)
        if not self.reference:  # the exact 1/sqrt is Newton's fixed point
            inv = newton_rsqrt(v, inv, int(self.site.param))
        return xc * inv * _row(scale, x) + _row(bias, x)


class Affine(nn.Module):
    """THE-X's LayerNorm replacement x*g + b, learned (distilled) per feature (Chen et al. 2022)."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        sow_input(self, x)
        scale, bias = _affine_params(self, x.shape[-1])
        return x * _row(scale, x) + _row(bias, x)


class Identity(nn.Module):
    """A norm already folded into its neighbouring linear layer (see fold_batchnorm)."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        sow_input(self, x)
        return x


class BatchNorm(nn.Module):
    """BatchNorm over every axis but the features; running stats in 'batch_stats'.

    train=True normalises by the batch statistics and updates the running ones when
    'batch_stats' is mutable; train=False uses the running statistics (an affine map, which
    `fold_batchnorm` merges into the next linear layer for inference).
    """
    eps: float = 1e-5
    momentum: float = 0.9

    @nn.compact
    def __call__(self, x, train: bool = False):
        sow_input(self, x)
        h = x.shape[-1]
        scale, bias = _affine_params(self, h)
        mean = self.variable('batch_stats', 'mean', lambda: jnp.zeros((h,), jnp.float32))
        var = self.variable('batch_stats', 'var', lambda: jnp.ones((h,), jnp.float32))
        if train:  # batch statistics; one function with a custom backward (see _batch_norm)
            y, m, v = batch_normalise(x.reshape(-1, h), scale, bias, self.eps)
            if self.is_mutable_collection('batch_stats') and not self.is_initializing():
                mean.value = self.momentum * mean.value + (1.0 - self.momentum) * m
                var.value = self.momentum * var.value + (1.0 - self.momentum) * v
            return y.reshape(x.shape)
        m, v = mean.value, var.value
        return (x - _row(m, x)) * _row(jax.lax.rsqrt(v + self.eps) * scale, x) + _row(bias, x)


def fold_batchnorm(bn_params, bn_stats, dense_params, eps: float = 1e-5):
    """Merge an inference-mode BatchNorm into the Dense layer that consumes its output.

    BN(x) @ W + c = x @ (s[:, None] * W) + ((b - mean * s) @ W + c),  s = g / sqrt(var + eps).
    bn_params {'scale','bias'} (H,), bn_stats {'mean','var'} (H,), dense_params {'kernel' (H, O),
    'bias' (O,)} -> new dense_params. Pure.
    """
    s = bn_params['scale'] * jax.lax.rsqrt(bn_stats['var'] + eps)  # (H,)
    shift = bn_params['bias'] - bn_stats['mean'] * s  # (H,)
    kernel = dense_params['kernel']
    return {'kernel': s[:, None] * kernel, 'bias': dense_params['bias'] + shift @ kernel}


# The norm choices -----------------------------------------------------------------------------
# build(site, eps=, reference=, name=) -> the norm module. Affine maps by plaintext vectors
# (scale, bias, folded statistics) cost nothing encrypted.

class _FreeNorm(Choice):
    kind = 'norm'

    def cost(self, site, n):
        return Cost.FREE


@register
class LayerNormChoice(Choice):
    kind, name, summary = 'norm', 'layernorm', 'exact LayerNorm'

    def build(self, site, *, eps, reference=False, name=None):
        return LayerNorm(eps=eps, name=name)

    def exportable(self, site):
        return False

    def cost(self, site, n):
        return Cost(None, None, None)


@register
class BatchNormChoice(_FreeNorm):
    name = 'batchnorm'
    summary = 'BatchNorm (fold into the next linear layer for inference)'
    folds = True

    def build(self, site, *, eps, reference=False, name=None):
        return BatchNorm(name=name)


@register
class AffineChoice(_FreeNorm):
    name, summary = 'affine', "THE-X's learned affine x*g + b (Chen et al. 2022)"

    def build(self, site, *, eps, reference=False, name=None):
        return Affine(name=name)


@register
class PolyRsqrtChoice(Choice):
    kind, name = 'norm', 'poly_rsqrt'
    summary = ('LayerNorm with a polynomial 1/sqrt(var) `poly` (Zimerman et al. ICML 2024), '
               'refined by `param` Newton steps (Panda 2022)')
    poly, poly_module = 'required', 'rsqrt'

    def validate(self, site, where):
        if site.param != int(site.param) or not 0 <= site.param <= MAX_NEWTON:
            raise ValueError(f'{where}: poly_rsqrt `param` is the number of Newton steps '
                             f'after the polynomial, an integer 0..{MAX_NEWTON}, got '
                             f'{site.param!r}')

    def build(self, site, *, eps, reference=False, name=None):
        return PolyLayerNorm(site, eps=eps, reference=reference, name=name)

    def cost(self, site, n):
        # xc^2 (a square: one product, one lookup), the rsqrt polynomial once per row, each
        # Newton step once per row (three products, depth 2), then xc * rsqrt: one
        # encrypted product (two lookups).
        r, k = poly_cost(site.poly), int(site.param)
        return Cost(1 + r.ckks_depth + 2 * k + 1, 2 + (r.ckks_products + 3 * k) / n,
                    1 + 2 + (1 + 6 * k) / n)


@register
class IdentityChoice(_FreeNorm):
    name = 'identity'
    summary = 'nothing (a BatchNorm already folded into the next linear layer)'

    def build(self, site, *, eps, reference=False, name=None):
        return Identity(name=name)


def make_norm(site: Site, *, eps: float, reference: bool = False,
              name: str | None = None) -> nn.Module:
    """The norm module for a norm Site."""
    return choice.get(site.choice, 'norm').build(site, eps=eps, reference=reference, name=name)
