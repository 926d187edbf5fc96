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

from polyzoo.nn import _choice as choice
from polyzoo.nn._activations import Exact, PolyFn, sow_input
from polyzoo.nn._choice import EXACT_LOOKUP, Choice, Cost, add, poly_cost, register
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
        s = scores if mask is None else scores * mask
        keep = (lambda w: w) if mask is None else (lambda w: w * mask)
        return choice.get(self.site.choice, 'softmax').weights(self, s, mask, keep)

    def normalise(self, q):
        """q (.., L) non-negative -> q / sum(q) as q * r(mean q) / L, r exact or polynomial."""
        L = q.shape[-1]
        mean = jnp.sum(q, axis=-1, keepdims=True) * (1.0 / L)  # (B, h, S, 1)
        if self.site.aux is not None:
            inv = PolyFn(self.site.aux, reference=self.reference, name='recip')(mean)
        else:
            inv = 1.0 / mean
        return q * inv * (1.0 / L)


# The softmax choices --------------------------------------------------------------------------
# weights(module, s, mask, keep): s the (masked) scores; keep(w) zeroes masked weights; module
# the AttentionWeights calling, under which sub-modules ('act', 'exp', 'recip') are created.

def _normalised_cost(site, numerator: Cost, n: int) -> Cost:
    """numerator q, then q * r(mean q): r once per row, one encrypted product per element."""
    if site.aux is None:
        return Cost(None, None, None)  # an exact division by an encrypted sum
    r = poly_cost(site.aux)
    inv_depth = add(numerator.ckks_depth, r.ckks_depth)
    depth = None if inv_depth is None else max(inv_depth, numerator.ckks_depth) + 1
    return Cost(depth, add(numerator.ckks_products, 1 + r.ckks_products / n),
                add(numerator.tfhe_pbs, 2 + 1 / n))


@register
class SoftmaxChoice(Choice):
    kind, name, summary = 'softmax', 'softmax', 'exact softmax'

    def weights(self, module, s, mask, keep):
        valid = s if mask is None else jnp.where(mask > 0, s, jnp.finfo(s.dtype).min)
        e = keep(jnp.exp(s - jax.lax.stop_gradient(max_last(valid))))
        return e * (1.0 / sum_last(e))  # max and sum off XLA CPU's slow paths (_reduce)

    def exportable(self, site):
        return False

    def cost(self, site, n):
        return Cost(None, None, None)


@register
class PointwiseChoice(Choice):
    kind, name = 'softmax', 'pointwise'
    summary = ('scaled pointwise attention act(s)/L, act = `fn` or `poly` '
               '(Zimerman et al. ICML 2024)')
    poly, poly_module = 'optional', 'act'

    def validate(self, site, where):
        if site.fn not in ('relu', 'gelu'):
            raise ValueError(f'{where}: pointwise attention fn must be relu or gelu, got {site.fn!r}')

    def weights(self, module, s, mask, keep):
        site = module.site
        if site.poly is not None:
            act = PolyFn(site.poly, reference=module.reference, name='act')
        else:
            act = Exact(site.fn, name='act')
        return keep(act(s)) * (1.0 / s.shape[-1])

    def exportable(self, site):
        return site.poly is not None or site.fn == 'relu'

    def cost(self, site, n):
        if site.poly is not None:
            return poly_cost(site.poly)
        return EXACT_LOOKUP if site.fn == 'relu' else Cost(None, None, None)


@register
class TwoQuadChoice(Choice):
    kind, name = 'softmax', '2quad'
    summary = "MPCFormer's 2Quad (s + c)^2 / sum, c = `param` (Li et al. ICLR 2023)"
    aux = 'optional'

    def weights(self, module, s, mask, keep):
        return module.normalise(keep(jnp.square(s + module.site.param)))

    def exportable(self, site):
        return site.aux is not None

    def cost(self, site, n):
        return _normalised_cost(site, Cost(1, 1, 1), n)


@register
class PowerChoice(Choice):
    kind, name = 'softmax', 'power'
    summary = 'power-softmax s^p / mean(s^p) / L, p = `param` (PowerSoftmax, Zimerman et al.)'
    aux = 'optional'

    def validate(self, site, where):
        if site.param != int(site.param) or site.param < 1:
            raise ValueError(f'{where}: power-softmax exponent `param` must be a positive integer')

    def weights(self, module, s, mask, keep):
        return module.normalise(keep(jax.lax.integer_pow(s, int(module.site.param))))

    def exportable(self, site):
        return site.aux is not None

    def cost(self, site, n):
        p = int(site.param)  # s^p by repeated squaring
        products = p.bit_length() - 1 + bin(p).count('1') - 1
        return _normalised_cost(site, Cost(max(p - 1, 0).bit_length(), products, 1), n)


@register
class PolyExpChoice(Choice):
    kind, name = 'softmax', 'polyexp'
    summary = ('polynomial exp `poly` with polynomial reciprocal `aux` '
               '(THE-X style, Chen et al. 2022)')
    poly, aux, poly_module = 'required', 'required', 'exp'

    def weights(self, module, s, mask, keep):
        exp = PolyFn(module.site.poly, reference=module.reference, name='exp')
        return module.normalise(keep(exp(s)))

    def cost(self, site, n):
        return _normalised_cost(site, poly_cost(site.poly), n)
