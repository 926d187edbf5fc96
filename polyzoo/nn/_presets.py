"""Named approximation specs mirroring the papers, plus polyzoo's own default."""
from __future__ import annotations

from polyzoo._names import unknown
from polyzoo.nn._spec import ApproxSpec, Poly, Site

_RECIP = Poly('reciprocal', 8, (0.05, 4.0))  # 1 / mean of the unnormalised attention weights

PRESETS: dict[str, ApproxSpec] = {
    # The reference network: GELU (erf), softmax, LayerNorm.
    'exact': ApproxSpec(name='exact'),
    # THE-X (Chen et al. 2022): ReLU, polynomial exp with a (here polynomial) reciprocal, and a
    # learned affine in place of LayerNorm (distilled layer by layer).
    'thex': ApproxSpec(
        act=Site('relu'),
        softmax=Site('polyexp', poly=Poly('exp', 6, (-8.0, 8.0)), aux=_RECIP),
        norm=Site('affine'), name='thex'),
    # Zimerman et al. (ICML 2024), vision flavour: Remez GELU, pointwise attention scaled by 1/L,
    # BatchNorm (folded into the next linear layer for inference).
    'zimerman': ApproxSpec(
        act=Site('poly', poly=Poly('gelu', 16, (-10.0, 10.0))),
        softmax=Site('pointwise', fn='gelu', poly=Poly('gelu', 16, (-10.0, 10.0))),
        norm=Site('batchnorm'), name='zimerman'),
    # Zimerman et al., language flavour: LayerNorm with a polynomial 1/sqrt(var).
    'zimerman-lm': ApproxSpec(
        act=Site('poly', poly=Poly('gelu', 16, (-10.0, 10.0))),
        softmax=Site('pointwise', fn='gelu', poly=Poly('gelu', 16, (-10.0, 10.0))),
        norm=Site('poly_rsqrt', poly=Poly('rsqrt', 12, (0.05, 20.0))), name='zimerman-lm'),
    # MPCFormer (Li et al. ICLR 2023): quad GELU, 2Quad softmax with c = 5, LayerNorm unchanged.
    'mpcformer': ApproxSpec(act=Site('quad'), softmax=Site('2quad', param=5.0), name='mpcformer'),
    # polyzoo's default for TFHE: every site exportable, each one a single univariate function
    # (one table lookup under TFHE): minimax GELU, pointwise ReLU attention (Zimerman et al.),
    # BatchNorm folded away at inference.
    'polyzoo': ApproxSpec(
        act=Site('poly', poly=Poly('gelu', 8, (-8.0, 8.0))),
        softmax=Site('pointwise', fn='relu', poly=Poly('relu', 8, (-8.0, 8.0))),
        norm=Site('batchnorm'), name='polyzoo'),
}
"""Named specs: 'exact' (the reference network), 'thex' (THE-X, Chen et al. 2022), 'zimerman'
and 'zimerman-lm' (Zimerman et al. ICML 2024, vision and language), 'mpcformer' (Li et al. ICLR
2023) and 'polyzoo' (every site exportable to TFHE). `get_spec(name)` looks one up."""


# 1 / mean of the unnormalised weights, refined by three Newton steps (Panda, CSCML 2022): on
# the Fashion ViT the means span four decades (2Quad: 0.002 to 7.7 in layers 1-3), where a
# degree-8 or -24 minimax guess alone overflowed the calibrated forward (measured).
_RECIP_NEWTON = Poly('reciprocal', 8, (0.05, 4.0), newton=3)

ATTENTION_MENU: dict[str, Site] = {
    # Zimerman et al. (ICML 2024): pointwise GELU or ReLU of the scaled scores, divided by L.
    'pointwise-gelu': Site('pointwise', fn='gelu', poly=Poly('gelu', 8, (-8.0, 8.0))),
    'pointwise-relu': Site('pointwise', fn='relu', poly=Poly('relu', 8, (-8.0, 8.0))),
    # MPCFormer (Li et al. ICLR 2023): (x + c)^2, normalised; c = 5 as in the paper.
    '2quad': Site('2quad', param=5.0, aux=_RECIP_NEWTON),
    # PowerSoftmax (Zimerman et al.): x^p over the mean of x^p; p = 2 (the paper uses 4 to 6
    # on language models; not tuned here).
    'power': Site('power', param=2.0, aux=_RECIP_NEWTON),
    # THE-X (Chen et al. 2022): polynomial exp and reciprocal. exp is evaluated as p(x)^4, p
    # fitted to exp(x / 4): the scores span [-22.6, 10.8] on the Fashion ViT, where a degree-24
    # fit of exp itself resolves no relative error in float64, and an absolute-error fit swings
    # below 0 where exp is small, which drove layer 0's row sums to -0.123 (both measured).
    'polyexp': Site('polyexp', poly=Poly('exp', 8, (-8.0, 8.0), squarings=2),
                    aux=_RECIP_NEWTON),
    # Inhibitor attention (Brännvall & Stoian 2023, arXiv 2310.02041): Manhattan-distance
    # scores and ReLU inhibition, no product of two encrypted values; gamma = 16, the head
    # width of vit-mini.
    'inhibitor': Site('inhibitor', param=16.0),
    'inhibitor_signed': Site('inhibitor_signed', param=16.0),
}
"""Every attention replacement the library offers, by name, with the parameters above: what
`polyzoo.zoo.recipe.with_attention` puts in a recipe's softmax site (the Fashion ViT entries
`vit-fashion-poly-NAME`, bench/bench_attention_menu.py). Polynomial degrees are placeholders:
`with_attention` sets them to each stage's own."""


def get_spec(spec: str | ApproxSpec) -> ApproxSpec:
    """A preset by name (an ApproxSpec passes through); unknown names list the valid ones."""
    if isinstance(spec, ApproxSpec):
        return spec
    if spec not in PRESETS:
        raise ValueError(unknown('approximation preset', spec, PRESETS, ordered=True))
    return PRESETS[spec]
