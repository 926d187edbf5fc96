"""Softmax replacements: from attention scores to attention weights.

Padding is applied by multiplying with the 0/1 key mask (no -inf under encryption): masked scores
are zeroed before any polynomial sees them and masked weights are zeroed after.
Normalisers divide by the mean over the L keys (a sum times the constant 1/L), either exactly or
through a polynomial reciprocal (`aux`): division by an encrypted value is never needed.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from polyzoo.nn._activations import Exact, PolyFn, sow_input
from polyzoo.nn._reduce import max_last, sum_last
from polyzoo.nn._spec import Site


class AttentionWeights(nn.Module):
    """scores (B, h, S, L) already scaled by 1/sqrt(d) -> weights (B, h, S, L).

    mask: (B, 1, 1, L) float 0/1 over keys, or None.
    """
    site: Site
    reference: bool = False

    @nn.compact
    def __call__(self, scores, mask=None):
        w = self._weights(scores, mask)
        if not self.is_initializing():  # attention distillation (MPCFormer): mutable=['attention']
            self.sow('attention', 'weights', w)
        return w

    def _weights(self, scores, mask):
        sow_input(self, scores)
        site, L = self.site, scores.shape[-1]
        s = scores if mask is None else scores * mask
        keep = (lambda w: w) if mask is None else (lambda w: w * mask)

        if site.choice == 'softmax':
            valid = s if mask is None else jnp.where(mask > 0, s, jnp.finfo(s.dtype).min)
            e = keep(jnp.exp(s - jax.lax.stop_gradient(max_last(valid))))
            return e * (1.0 / sum_last(e))  # max and sum off XLA CPU's slow paths (_reduce)
        if site.choice == 'pointwise':  # act(s) / L (Zimerman et al. ICML 2024)
            if site.poly is not None:
                act = PolyFn(site.poly, reference=self.reference, name='act')
            else:
                act = Exact(site.fn, name='act')
            return keep(act(s)) * (1.0 / L)
        if site.choice == '2quad':  # (s + c)^2 / sum (MPCFormer, Li et al. ICLR 2023)
            return self._normalise(keep(jnp.square(s + site.param)))
        if site.choice == 'power':  # s^p / mean(s^p) / L (PowerSoftmax)
            return self._normalise(keep(jax.lax.integer_pow(s, int(site.param))))
        if site.choice == 'polyexp':  # poly exp, poly reciprocal (THE-X style, Chen et al. 2022)
            exp = PolyFn(site.poly, reference=self.reference, name='exp')
            return self._normalise(keep(exp(s)))
        raise ValueError(f'{site.choice!r} is not a softmax choice')

    def _normalise(self, q):
        """q (.., L) non-negative -> q / sum(q) as q * r(mean q) / L, r exact or polynomial."""
        L = q.shape[-1]
        mean = jnp.sum(q, axis=-1, keepdims=True) * (1.0 / L)  # (B, h, S, 1)
        if self.site.aux is not None:
            inv = PolyFn(self.site.aux, reference=self.reference, name='recip')(mean)
        else:
            inv = 1.0 / mean
        return q * inv * (1.0 / L)
