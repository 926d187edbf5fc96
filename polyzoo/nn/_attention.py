"""Softmax replacements: from attention scores to attention weights, and attentions that
replace the whole q·kᵀ -> weights -> ·v chain (inhibitor attention).

Every softmax-kind choice has `attend(module, q, k, v, mask)`, which the `Attention` layer
calls: by default dot-product attention, scores q·kᵀ/√d through the choice's `weights`, then
weights·v; `InhibitorChoice` overrides it.

Padding is applied by multiplying with the 0/1 key mask (no -inf under encryption): masked scores
are zeroed before any polynomial sees them and masked weights are zeroed after.
Normalisers divide by the mean over the L keys (a sum times the constant 1/L): they multiply by
its reciprocal, exact (under TFHE one lookup, 1 / mean) or a polynomial (`aux`, for CKKS), so no
encrypted value is ever divided by another.
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

class AttentionChoice(Choice):
    """A softmax-kind choice: `attend` is the attention it computes, `weights` (dot-product
    choices) the score normaliser inside it."""
    kind = 'softmax'

    def attend(self, module, q, k, v, mask=None):
        """q, k, v (B, S, heads, d), mask (B, 1, 1, S) 0/1 or None -> (B, S, heads, d).

        module: the calling `Attention` (its `spec`, `site` and `reference`), under which
        sub-modules are created. Default: dot-product attention, the weights from the site's
        `AttentionWeights` module named 'softmax'."""
        site = module.spec.site(module.site)
        scores = jnp.einsum('bqhd,bkhd->bhqk', q, k) * (1.0 / q.shape[-1] ** 0.5)  # (B, h, S, S)
        w = AttentionWeights(site, reference=module.reference, name='softmax')(scores, mask)
        return jnp.einsum('bhqk,bkhd->bqhd', w, v)

    def weights(self, module, s, mask, keep):
        raise NotImplementedError(f'{self.name} attention computes no attention weights')

    def attention_pbs(self, site, queries: int, keys: int, d: int) -> float | None:
        """TFHE table lookups of one head's whole attention (counted, not measured): for
        dot-product choices two per scalar product of q·kᵀ and of weights·v (each
        queries·keys·d of them) plus the weights' own lookups (`cost`); None if not
        exportable. Concrete-ML's re-quantisation and rounding lookups are not included."""
        weights = self.cost(site, keys).tfhe_pbs
        if weights is None:
            return None
        return 2 * 2 * queries * keys * d + weights * queries * keys

def _normalised_cost(site, numerator: Cost, n: int) -> Cost:
    """numerator q, then q * r(mean q): r once per row (the `aux` polynomial; without one the
    exact reciprocal, one table lookup under TFHE and no CKKS form), one encrypted product per
    element."""
    r = EXACT_LOOKUP if site.aux is None else poly_cost(site.aux)
    inv_depth = add(numerator.ckks_depth, r.ckks_depth)
    depth = None if inv_depth is None else max(inv_depth, numerator.ckks_depth) + 1
    products = None if r.ckks_products is None else add(numerator.ckks_products,
                                                         1 + r.ckks_products / n)
    return Cost(depth, products, add(numerator.tfhe_pbs, 2 + 1 / n))


@register
class SoftmaxChoice(AttentionChoice):
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
class PointwiseChoice(AttentionChoice):
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
class TwoQuadChoice(AttentionChoice):
    kind, name = 'softmax', '2quad'
    summary = "MPCFormer's 2Quad (s + c)^2 / sum, c = `param` (Li et al. ICLR 2023)"
    aux = 'optional'

    def weights(self, module, s, mask, keep):
        return module.normalise(keep(jnp.square(s + module.site.param)))

    def cost(self, site, n):
        return _normalised_cost(site, Cost(1, 1, 1), n)


@register
class PowerChoice(AttentionChoice):
    kind, name = 'softmax', 'power'
    summary = 'power-softmax s^p / mean(s^p) / L, p = `param` (PowerSoftmax, Zimerman et al.)'
    aux = 'optional'

    def validate(self, site, where):
        if site.param != int(site.param) or site.param < 1:
            raise ValueError(f'{where}: power-softmax exponent `param` must be a positive integer')

    def weights(self, module, s, mask, keep):
        return module.normalise(keep(jax.lax.integer_pow(s, int(module.site.param))))

    def cost(self, site, n):
        p = int(site.param)  # s^p by repeated squaring
        products = p.bit_length() - 1 + bin(p).count('1') - 1
        return _normalised_cost(site, Cost(max(p - 1, 0).bit_length(), products, 1), n)


@register
class PolyExpChoice(AttentionChoice):
    kind, name = 'softmax', 'polyexp'
    summary = ('polynomial exp `poly` with polynomial reciprocal `aux` (exact without one) '
               '(THE-X style, Chen et al. 2022)')
    poly, aux, poly_module = 'required', 'optional', 'exp'

    def weights(self, module, s, mask, keep):
        exp = PolyFn(module.site.poly, reference=module.reference, name='exp')
        return module.normalise(keep(exp(s)))

    def cost(self, site, n):
        return _normalised_cost(site, poly_cost(site.poly), n)


# Inhibitor attention: no scores·values product, no weights --------------------------------------

class Inhibitor(nn.Module):
    """Inhibitor attention (Brännvall & Stoian 2023, arXiv 2310.02041; Brännvall et al., arXiv
    2308.05629): a Manhattan-distance score inhibits each value instead of weighting it,

        Z_ij = Σ_k |q_ik − k_jk| / γ                       (B, h, S, L)
        H_ik = Σ_j ReLU(v_jk − Z_ij)                        unsigned
        H_ik = Σ_j ReLU(v_jk − Z_ij) − ReLU(−v_jk − Z_ij)   signed

    The signed form, for Z ≥ 0, is the papers' (V − Z)⁺ + (V + Z)⁻: each value shrunk towards
    zero by its score, sign(v)·ReLU(|v| − Z) (InhibiDistilBERT, Zhang & Brännvall 2025, writes
    the same terms through L1 distances). The two sums over keys are taken separately, so an
    encrypted difference is taken once per output element, not once per term. No
    encrypted × encrypted product: under TFHE each |·| and ReLU is one table lookup.

    q, k, v (B, S, h, d); mask (B, 1, 1, L) 0/1 over keys or None: a masked key's terms are
    multiplied by 0. Sows Z as its input (range monitor). gamma and signed are static.
    """
    gamma: float
    signed: bool = False

    @nn.compact
    def __call__(self, q, k, v, mask=None):
        q, k, v = (t.transpose(0, 2, 1, 3) for t in (q, k, v))  # (B, h, S, d)
        diff = q[:, :, :, None, :] - k[:, :, None, :, :]  # (B, h, S, L, d)
        z = jnp.sum(jnp.abs(diff), axis=-1) * (1.0 / self.gamma)  # (B, h, S, L)
        sow_input(self, z)
        zb, vb = z[..., None], v[:, :, None, :, :]  # (B, h, S, L, 1), (B, h, 1, L, d)
        keep = (lambda t: t) if mask is None else (lambda t: t * mask[..., None])
        out = jnp.sum(keep(jax.nn.relu(vb - zb)), axis=3)  # (B, h, S, d)
        if self.signed:
            out = out - jnp.sum(keep(jax.nn.relu(-vb - zb)), axis=3)
        return out.transpose(0, 2, 1, 3)  # (B, S, h, d)


@register
class InhibitorChoice(AttentionChoice):
    kind, name = 'softmax', 'inhibitor'
    summary = ('inhibitor attention Σ_j ReLU(v_j − Σ_k |q_k − k_jk| / γ), γ = `param`, '
               'no encrypted products (Brännvall & Stoian 2023)')
    signed = False

    def validate(self, site, where):
        if not site.param > 0:
            raise ValueError(f'{where}: inhibitor attention needs its score scale γ = `param` '
                             f'> 0 (e.g. the head width d), got {site.param!r}')

    def attend(self, module, q, k, v, mask=None):
        # γ is a fixed constant, not a learned scalar: Z is positively homogeneous in the query
        # and key projections, which are learned, so a learned γ would only duplicate them.
        site = module.spec.site(module.site)
        return Inhibitor(float(site.param), signed=self.signed, name='softmax')(q, k, v, mask)

    def cost(self, site, n):
        # Per output element H_ik, rows of n keys: n lookups |q_ik − k_jk| and n ReLU (2n for
        # the signed form). Not a polynomial, so no CKKS count (composite minimax sign
        # polynomials would give one: polyzoo.fitting.composite_relu).
        return Cost(None, None, float((2 + self.signed) * n))

    def attention_pbs(self, site, queries, keys, d):
        return float((2 + self.signed) * queries * keys * d)


@register
class SignedInhibitorChoice(InhibitorChoice):
    name = 'inhibitor_signed'
    summary = ('signed inhibitor attention Σ_j ReLU(v − Z) − ReLU(−v − Z), Z the Manhattan '
               'score / γ, γ = `param` (Brännvall & Stoian 2023)')
    signed = True
