"""polyzoo.nn: specs, softmax replacements, norms, BatchNorm folding, polynomial activations."""
import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from polyzoo import fitting
from polyzoo.nn import (PRESETS, Affine, ApproxSpec, AttentionWeights, BatchNorm, LayerNorm,
                        Poly, PolyFn, PolyLayerNorm, Quad, Site, fold_batchnorm, get_spec)

KEY = jax.random.key(0)


# --- specs ---------------------------------------------------------------------------------

@pytest.mark.parametrize('name', sorted(PRESETS))
def test_preset_json_round_trip(name):
    spec = get_spec(name)
    text = spec.to_json()
    assert ApproxSpec.from_json(text) == spec
    assert json.loads(text)['name'] == name


def test_round_trip_keeps_overrides():
    spec = PRESETS['polyzoo'].with_overrides({'final_norm': Site('layernorm'),
                                              'layer_0/mlp/act': Site('poly', Poly('gelu', 5, (-3, 3)))})
    back = ApproxSpec.from_json(spec.to_json())
    assert back == spec
    assert back.site('final_norm') == Site('layernorm')
    assert back.site('layer_1/norm1') == spec.norm
    exp = Poly('exp', 8, (-20.0, 10.0), relative=False)  # kept; left at None, not written
    site = Site('polyexp', poly=exp, aux=Poly('reciprocal', 4, (1, 2)))
    assert Site.from_dict(site.to_dict()).poly == exp
    assert 'relative' not in Site('poly', Poly('gelu', 5, (-3, 3))).to_dict()['poly']


def test_unknown_preset_lists_valid():
    with pytest.raises(ValueError, match=r"did you mean 'thex'\? valid names: exact, thex"):
        get_spec('thx')


def test_unknown_choice_lists_valid_and_names_site():
    with pytest.raises(ValueError, match=r"'layer_0/mlp/act'.*unknown act choice 'swish'.*gelu, relu"):
        ApproxSpec(overrides=(('layer_0/mlp/act', Site('swish')),))
    with pytest.raises(ValueError, match='unknown softmax choice'):
        ApproxSpec(softmax=Site('sparsemax'))


@pytest.mark.parametrize('bad, msg', [
    (lambda: Site('poly'), None),
    (lambda: Poly('cosh', 4, (-1, 1)), 'unknown polynomial target'),
    (lambda: Poly('gelu', 0, (-1, 1)), 'positive int'),
    (lambda: Poly('gelu', 4, (1, -1)), 'lo < hi'),
    (lambda: Poly('rsqrt', 4, (0, 1)), 'positive interval'),
    (lambda: Poly('gelu', 4, (-1, 1), newton=2), 'reciprocal'),
    (lambda: Poly('reciprocal', 4, (1, 2), newton=9), 'step count'),
    (lambda: Poly('exp', 4, (-1, 1), relative='yes'), 'True, False or None'),
    (lambda: Poly('gelu', 4, (-1, 1), squarings=1), 'exp Poly'),
    (lambda: Poly('exp', 4, (-1, 1), squarings=5), 'count in 0..4'),
])
def test_bad_polys_and_sites(bad, msg):
    with pytest.raises(ValueError, match=msg):
        thing = bad()
        ApproxSpec(act=thing)  # Site('poly') without poly fails here


def test_site_kind_rejects_non_sites():
    with pytest.raises(ValueError, match='not a site name'):
        ApproxSpec(overrides=(('layer_0/attn/query', Site('gelu')),))


def test_from_json_rejects_unknown_fields():
    d = PRESETS['exact'].to_dict()
    d['acts'] = d.pop('act')
    with pytest.raises(ValueError, match='unknown ApproxSpec fields'):
        ApproxSpec.from_dict(d)


# --- softmax replacements ---------------------------------------------------------------------

def _scores(b=2, h=2, s=5):
    scores = jax.random.normal(KEY, (b, h, s, s), jnp.float32) * 2.0
    mask = jnp.asarray([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], jnp.float32)[:b, :s].reshape(b, 1, 1, s)
    return scores, mask


def _weights(site, scores, mask, reference=False):
    mod = AttentionWeights(site, reference=reference)
    v = mod.init(KEY, scores, mask)
    return mod.apply(v, scores, mask)


def test_exact_softmax_with_multiplicative_mask_matches_additive():
    scores, mask = _scores()
    w = _weights(Site('softmax'), scores, mask)
    ref = jax.nn.softmax(jnp.where(mask > 0, scores, -jnp.inf), axis=-1)
    np.testing.assert_allclose(w, ref, atol=1e-6)


@pytest.mark.parametrize('site', [Site('2quad', param=5.0), Site('power', param=4.0)])
def test_normalised_replacements_sum_to_one_and_mask(site):
    scores, mask = _scores()
    w = _weights(site, scores, mask)
    np.testing.assert_allclose(jnp.sum(w, -1), 1.0, rtol=1e-5)
    assert float(jnp.max(jnp.abs(w * (1 - mask)))) == 0.0
    q = (scores + 5.0) ** 2 if site.choice == '2quad' else scores ** 4
    q = q * mask
    np.testing.assert_allclose(w, q / jnp.sum(q, -1, keepdims=True), rtol=1e-5, atol=1e-7)


def test_pointwise_is_act_over_length():
    scores, mask = _scores()
    w = _weights(Site('pointwise', fn='relu'), scores, mask)
    np.testing.assert_allclose(w, jax.nn.relu(scores * mask) * mask / 5.0, atol=1e-7)


def test_polyexp_reference_is_softmax_and_fit_is_close():
    scores, mask = _scores()
    scores = scores * 0.25  # |s| < 2.5
    means = jnp.sum(jnp.exp(scores * mask) * mask, -1) / 5.0  # the reciprocal's inputs
    recip = (0.9 * float(jnp.min(means)), 1.1 * float(jnp.max(means)))
    site = Site('polyexp', poly=Poly('exp', 12, (-2.5, 2.5)), aux=Poly('reciprocal', 16, recip))
    exact = _weights(Site('softmax'), scores, mask)
    np.testing.assert_allclose(_weights(site, scores, mask, reference=True), exact, atol=1e-6)
    mod = AttentionWeights(site)
    v = mod.init(KEY, scores, mask)
    for name, p in (('exp', site.poly), ('recip', site.aux)):
        fit = fitting.minimax(p.fn, p.interval, p.degree, relative=True)
        v['approx'][name] = {'cheb': jnp.asarray(fit.cheb, jnp.float32),
                             'interval': jnp.asarray(p.interval, jnp.float32)}
    np.testing.assert_allclose(mod.apply(v, scores, mask), exact, atol=2e-3)


# --- activations ------------------------------------------------------------------------------

def test_quad_formula():
    x = jnp.linspace(-3, 3, 7, dtype=jnp.float32)
    y = Quad().apply({}, x)
    np.testing.assert_allclose(y, 0.125 * x ** 2 + 0.25 * x + 0.5, rtol=1e-6)


def test_poly_activation_init_and_minimax_refit():
    poly = Poly('gelu', 10, (-6.0, 6.0))
    mod = PolyFn(poly)
    x = jnp.linspace(-6, 6, 1001, dtype=jnp.float32)
    v = mod.init(KEY, x)
    assert v['approx']['cheb'].shape == (11,) and v['approx']['cheb'].dtype == jnp.float32
    init_err = float(jnp.max(jnp.abs(mod.apply(v, x) - jax.nn.gelu(x, approximate=False))))
    fit = fitting.minimax('gelu', poly.interval, poly.degree)
    v = {'approx': {'cheb': jnp.asarray(fit.cheb, jnp.float32), 'interval': v['approx']['interval']}}
    err = float(jnp.max(jnp.abs(mod.apply(v, x) - jax.nn.gelu(x, approximate=False))))
    assert err <= float(fit.max_error) * 1.01 + 1e-5
    assert err <= init_err * 1.01  # minimax is no worse than the Chebyshev interpolant
    # the exact GELU is the erf form (as BERT): equal to jax.nn.gelu up to float32 rounding
    np.testing.assert_allclose(PolyFn(poly, reference=True).apply(v, x),
                               jax.nn.gelu(x, approximate=False), rtol=1e-6, atol=1e-6)


# --- norms ------------------------------------------------------------------------------------

def test_layernorm_matches_flax():
    x = jax.random.normal(KEY, (2, 3, 8), jnp.float32) * 3 + 1
    ours = LayerNorm(eps=1e-12)
    v = ours.init(KEY, x)
    v['params'] = {'scale': jnp.arange(8, dtype=jnp.float32), 'bias': jnp.ones(8, jnp.float32)}
    ref = nn.LayerNorm(epsilon=1e-12).apply({'params': v['params']}, x)
    np.testing.assert_allclose(ours.apply(v, x), ref, atol=1e-5)


def test_poly_rsqrt_layernorm_close_to_exact():
    x = jax.random.normal(KEY, (4, 16), jnp.float32) * 2
    var = jnp.var(x, axis=-1)
    site = Site('poly_rsqrt', poly=Poly('rsqrt', 12, (0.8 * float(var.min()), 1.2 * float(var.max()))))
    mod = PolyLayerNorm(site, eps=1e-12)
    v = mod.init(KEY, x)
    exact = LayerNorm(eps=1e-12).apply({'params': v['params']}, x)
    np.testing.assert_allclose(PolyLayerNorm(site, reference=True).apply(v, x), exact, atol=1e-5)
    fit = fitting.minimax('rsqrt', site.poly.interval, 12, relative=True)
    v['approx']['rsqrt']['cheb'] = jnp.asarray(fit.cheb, jnp.float32)
    np.testing.assert_allclose(mod.apply(v, x), exact, atol=1e-3)


def test_newton_steps_make_a_coarse_rsqrt_layernorm_exact():
    """A degree-8 rsqrt over a 260x variance range is off by a fifth (relative); each
    Newton step squares that relative error (Panda 2022), so three bring LayerNorm to ~1e-4."""
    x = jax.random.normal(KEY, (64, 16), jnp.float32) * jnp.logspace(-0.5, 0.5, 64)[:, None]
    var = jnp.var(x, axis=-1)
    interval = (0.9 * float(var.min()), 1.1 * float(var.max()))
    fit = fitting.minimax('rsqrt', interval, 8, relative=True)
    errors = []
    for steps in (0, 1, 3):
        site = Site('poly_rsqrt', poly=Poly('rsqrt', 8, interval), param=steps)
        v = PolyLayerNorm(site, eps=1e-12).init(KEY, x)
        v['approx']['rsqrt']['cheb'] = jnp.asarray(fit.cheb, jnp.float32)
        exact = LayerNorm(eps=1e-12).apply({'params': v['params']}, x)
        np.testing.assert_allclose(PolyLayerNorm(site, reference=True).apply(v, x), exact,
                                   atol=1e-5)  # the exact forward takes no Newton step
        errors.append(float(jnp.max(jnp.abs(PolyLayerNorm(site).apply(v, x) - exact))))
    assert errors[0] > 0.1 and errors[1] < errors[0] / 2 and errors[2] < 1e-3, errors
    with pytest.raises(ValueError, match='Newton steps'):
        Site('poly_rsqrt', poly=Poly('rsqrt', 4, interval), param=1.5).check('norm', 'n')
    cost = Site('poly_rsqrt', poly=Poly('rsqrt', 4, interval), param=2).cost(16)
    assert cost.ckks_depth == Site('poly_rsqrt', poly=Poly('rsqrt', 4, interval)).cost(16).ckks_depth + 4


def test_newton_steps_make_a_coarse_reciprocal_exact():
    """A degree-8 reciprocal over a 500x range is off by about 75% (relative); each Newton step
    r <- r (2 - x r) squares that error, so four take it under 1e-2. The JSON of a Poly
    without steps is what it was before the field existed (stored specs keep their digests)."""
    interval = (0.6, 300.0)
    x = jnp.geomspace(*interval, 4001, dtype=jnp.float32)
    fit = fitting.minimax('reciprocal', interval, 8, relative=True)
    errors = []
    for steps in (0, 1, 4):
        poly = Poly('reciprocal', 8, interval, newton=steps)
        v = PolyFn(poly).init(KEY, x)
        v['approx']['cheb'] = jnp.asarray(fit.cheb, jnp.float32)
        np.testing.assert_allclose(PolyFn(poly, reference=True).apply(v, x), 1 / x, rtol=1e-6)
        errors.append(float(jnp.max(jnp.abs(PolyFn(poly).apply(v, x) * x - 1))))
    assert errors[0] > 0.7 and errors[1] < errors[0] ** 2 + 1e-3 and errors[2] < 1e-2, errors
    site = Site('2quad', param=5.0, aux=Poly('reciprocal', 8, interval, newton=3))
    assert Site.from_dict(json.loads(json.dumps(site.to_dict()))) == site
    assert 'newton' not in Site('2quad', param=5.0, aux=Poly('reciprocal', 8, interval)).to_dict()['aux']
    plain = Site('2quad', param=5.0, aux=Poly('reciprocal', 8, interval)).cost(16)
    assert site.cost(16).ckks_depth == plain.ckks_depth + 6
    assert site.cost(16).tfhe_pbs == plain.tfhe_pbs  # still one lookup under TFHE


def test_a_squared_exp_is_exp_and_never_negative():
    """squarings=k evaluates p(x)^(2^k) with p fitted to exp(x / 2^k) on the site's interval:
    exp on the interval, and never negative, on it or off it, where the plain absolute fit of
    the same degree swings below 0 wherever exp is smaller than its error (the polyexp row sums
    that no reciprocal covers). JSON without the field is unchanged; each squaring adds one
    CKKS level and product, no TFHE lookup."""
    interval = (-20.0, 10.0)
    x = jnp.linspace(*interval, 3001, dtype=jnp.float32)
    off = jnp.linspace(-60.0, -20.0, 401, dtype=jnp.float32)
    values = {}
    for k in (0, 2):
        poly = Poly('exp', 12, interval, relative=False, squarings=k)
        fit = fitting.minimax('exp', poly.fit_interval, 12, relative=False)
        v = PolyFn(poly).init(KEY, x)
        v['approx']['cheb'] = jnp.asarray(fit.cheb, jnp.float32)
        values[k] = PolyFn(poly).apply(v, x), PolyFn(poly).apply(v, off)
    np.testing.assert_allclose(values[2][0], jnp.exp(x), rtol=1e-3, atol=1e-3)
    assert float(jnp.min(values[0][0])) < 0
    assert float(jnp.min(values[2][0])) >= 0 and float(jnp.min(values[2][1])) >= 0
    site = Site('polyexp', poly=Poly('exp', 8, interval, squarings=2),
                aux=Poly('reciprocal', 8, (0.05, 4.0)))
    assert Site.from_dict(json.loads(json.dumps(site.to_dict()))) == site
    plain = Site('polyexp', poly=Poly('exp', 8, interval), aux=site.aux)
    assert 'squarings' not in plain.to_dict()['poly']  # nor in its repr (recipe digests)
    assert 'squarings' not in repr(plain.poly) and 'squarings=2' in repr(site.poly)
    assert site.cost(16).ckks_depth == plain.cost(16).ckks_depth + 2
    assert site.cost(16).tfhe_pbs == plain.cost(16).tfhe_pbs


def test_affine_is_x_g_plus_b():
    x = jax.random.normal(KEY, (2, 4), jnp.float32)
    p = {'params': {'scale': jnp.full(4, 2.0, jnp.float32), 'bias': jnp.full(4, -1.0, jnp.float32)}}
    np.testing.assert_allclose(Affine().apply(p, x), 2 * x - 1, rtol=1e-6)


def test_batchnorm_train_updates_stats_and_fold_matches():
    x = jax.random.normal(KEY, (8, 3, 6), jnp.float32) * 2 + 3
    bn = BatchNorm()
    v = bn.init(KEY, x)
    y, upd = bn.apply(v, x, train=True, mutable=['batch_stats'])
    np.testing.assert_allclose(jnp.mean(y, (0, 1)), 0.0, atol=1e-5)
    m = upd['batch_stats']['mean']
    np.testing.assert_allclose(m, 0.1 * jnp.mean(x, (0, 1)), rtol=1e-5)
    v = {'params': {'scale': jnp.linspace(0.5, 2, 6, dtype=jnp.float32),
                    'bias': jnp.linspace(-1, 1, 6, dtype=jnp.float32)}, 'batch_stats': upd['batch_stats']}
    dense = nn.Dense(5)
    dv = dense.init(KEY, x)
    ref = dense.apply(dv, bn.apply(v, x))
    folded = fold_batchnorm(v['params'], v['batch_stats'], dv['params'])
    np.testing.assert_allclose(dense.apply({'params': folded}, x), ref, atol=1e-5)
