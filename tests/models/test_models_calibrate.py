"""Calibration, the range monitor and the range loss on real polynomial models."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from polyzoo import fitting, models
from polyzoo.nn import ApproxSpec, Poly, Site

KEY = jax.random.key(0)

# Every site polynomial, with the same parameters as the exact model (same param tree).
POLY_SPEC = ApproxSpec(
    act=Site('poly', poly=Poly('gelu', 16, (-4.0, 4.0))),
    softmax=Site('polyexp', poly=Poly('exp', 12, (-4.0, 4.0)),
                 aux=Poly('reciprocal', 12, (0.2, 5.0))),
    norm=Site('poly_rsqrt', poly=Poly('rsqrt', 14, (0.1, 10.0))), name='all-poly')


def _batches(n=3, b=4, s=8):
    keys = jax.random.split(KEY, n)
    out = []
    for k in keys:
        ids = jax.random.randint(k, (b, s), 1, 30522, dtype=jnp.int32)
        mask = jnp.ones((b, s), jnp.float32).at[:, s - 2:].set(0.0)
        out.append((ids, mask))
    return out


@pytest.fixture(scope='module')
def calibrated():
    exact = models.create('bert-test', num_classes=3)
    poly = models.create('bert-test', spec=POLY_SPEC, num_classes=3)
    batches = _batches()
    v = poly.init(KEY, *batches[0])
    v, report = models.calibrate(poly, v, batches, margin=0.1, return_report=True)
    return exact, poly, v, report, batches


def test_calibration_sets_intervals_around_measured_ranges(calibrated):
    exact, poly, v, report, batches = calibrated
    assert set(report) == set(models.model_polys(poly))
    for site, r in report.items():
        lo, hi = r['measured']
        a, b = r['interval']
        assert a < lo and b > hi, site
        assert r['converged'], site
        _, iv = models.approx_sites(v)[site]
        np.testing.assert_allclose(iv, [a, b], rtol=1e-6)


def test_polynomial_model_close_to_exact_when_in_range(calibrated):
    exact, poly, v, report, batches = calibrated
    for ids, mask in batches:
        ref = exact.apply({'params': v['params']}, ids, mask)
        out, state = poly.apply(v, ids, mask, mutable=['intermediates'])
        counts = models.out_of_range(state, v)
        assert all(int(c) == 0 for c in counts.values()), counts
        assert float(models.range_loss(state, v)) == 0.0
        np.testing.assert_allclose(out, ref, atol=0.05 * float(jnp.max(jnp.abs(ref))))
        # the reference form of the polynomial model is the exact model
        np.testing.assert_allclose(poly.clone(reference=True).apply(v, ids, mask), ref, atol=1e-5)


def test_range_monitor_counts_what_is_outside(calibrated):
    exact, poly, v, report, batches = calibrated
    ids, mask = batches[0]
    emb = poly.apply(v, ids, method='embed') * 4.0  # push activations out of range
    _, state = poly.apply(v, emb, mask, method='encode_embedded', mutable=['intermediates'])
    counts = models.out_of_range(state, v)
    _, monitored = jax.jit(lambda v, e, m: models.apply_with_monitor(
        poly, v, e, m, method='encode_embedded'))(v, emb, mask)
    assert {k: int(c) for k, c in monitored.items()} == {k: int(c) for k, c in counts.items()}
    inputs = models.site_inputs(state)
    total = 0
    for site, (_, iv) in models.approx_sites(v).items():
        x = np.asarray(inputs[site])
        expected = int(np.sum((x < float(iv[0])) | (x > float(iv[1]))))
        assert int(counts[site]) == expected
        total += expected
    assert total > 0
    # the range loss of training: exact functions in the forward, penalty on the intervals
    ref = poly.clone(reference=True)
    loss, grad = jax.value_and_grad(
        lambda e: models.range_loss(ref.apply(v, e, mask, method='encode_embedded',
                                              mutable=['intermediates'])[1], v))(emb)
    assert float(loss) > 0 and bool(jnp.all(jnp.isfinite(grad)))


def test_refit_batches_sites_by_function_and_degree(monkeypatch):
    calls = []
    real = fitting.minimax

    def spy(fn, interval, degree, **kw):
        calls.append((fn, np.shape(interval), degree))
        return real(fn, interval, degree, **kw)

    monkeypatch.setattr(fitting, 'minimax', spy)
    gelu6 = Poly('gelu', 6, (-4.0, 4.0))
    spec = ApproxSpec(act=Site('poly', poly=gelu6), softmax=Site('pointwise', fn='gelu', poly=gelu6),
                      norm=Site('batchnorm'), overrides={'layer_1/mlp/act': Site('relu')})
    model = models.create('vit-test', spec=spec, num_layers=2)
    x = jax.random.uniform(KEY, (4, 28, 28, 1), jnp.float32)
    v = model.init(KEY, x)
    models.calibrate(model, v, [x])
    # 3 GELU sites of degree 6 (2 pointwise attentions + 1 mlp): one batched fit
    assert calls == [('gelu', (3, 2), 6)]


def test_calibration_reuses_the_compiled_forward(calibrated):
    exact, poly, v, report, batches = calibrated
    fwd = jax.jit(lambda v, ids, m: poly.apply(v, ids, m))
    fwd(poly.init(KEY, *batches[0]), *batches[0])
    fwd(v, *batches[1])
    assert fwd._cache_size() == 1


def test_refit_rejects_unknown_sites(calibrated):
    exact, poly, v, report, batches = calibrated
    with pytest.raises(ValueError, match='no polynomial sites'):
        models.refit(poly, v, {'layer_0/mlp/fc1': (0.0, 1.0)})


def test_a_polynomial_pass_widens_the_first_site_off_its_interval():
    """A coarse network's polynomials move the inputs of later sites off the exact network's
    ranges; one polynomial pass widens the first such site in forward order, and only it."""
    coarse = ApproxSpec(act=Site('poly', poly=Poly('gelu', 4, (-4.0, 4.0))),
                        softmax=POLY_SPEC.softmax, norm=POLY_SPEC.norm, name='coarse')
    poly = models.create('bert-test', spec=coarse, num_classes=3)
    batches = _batches()
    v = poly.init(KEY, *batches[0])
    once, base = models.calibrate(poly, v, batches, margin=0.0, return_report=True)
    seen = models.measure_ranges(poly, once, batches, reference=False)
    off = [s for s in base if not base[s]['interval'][0] <= seen[s][0] <= seen[s][1]
           <= base[s]['interval'][1]]
    assert off, 'the coarse network should leave some interval'
    lines = []
    _, report = models.calibrate(poly, v, batches, margin=0.0, polynomial_passes=1,
                                 return_report=True, log=lines.append)
    changed = [s for s in report if report[s]['interval'] != base[s]['interval']]
    assert len(changed) == 1 and changed[0] in off and changed[0] in lines[0]
    (s,) = changed
    assert report[s]['measured'][0] <= seen[s][0] and report[s]['measured'][1] >= seen[s][1]


def test_polynomial_passes_stop_once_the_polynomial_forward_stays_inside():
    """Repeated passes reach a fixed point: on the calibration inputs every site's input in
    the polynomial forward is finite and inside its interval."""
    coarse = ApproxSpec(act=Site('poly', poly=Poly('gelu', 4, (-4.0, 4.0))),
                        softmax=POLY_SPEC.softmax, norm=POLY_SPEC.norm, name='coarse')
    poly = models.create('bert-test', spec=coarse, num_classes=3)
    batches = _batches()
    v = models.calibrate(poly, poly.init(KEY, *batches[0]), batches, margin=0.0,
                         polynomial_passes=30)
    seen = models.measure_ranges(poly, v, batches, reference=False)
    for s, (_, iv) in models.approx_sites(v).items():
        lo, hi = (float(b) for b in np.asarray(iv))
        assert np.isfinite(seen[s]).all() and lo <= seen[s][0] and seen[s][1] <= hi, s


def test_measure_ranges_leaves_non_finite_inputs_out_and_says_so(calibrated):
    """A NaN reaching a site is counted in a warning, not folded into the range; a site with
    no finite input at all is an error naming it."""
    _, poly, v, _, batches = calibrated
    clean = models.measure_ranges(poly, v, batches)
    ids, _ = batches[0]
    emb = v['params']['word_embeddings']['embedding']
    bad = {**v, 'params': {**v['params'], 'word_embeddings': {
        'embedding': emb.at[int(ids[0, 0])].set(jnp.nan)}}}
    with pytest.warns(UserWarning, match='non-finite site inputs'):
        models.measure_ranges(poly, bad, batches)
    every = jax.tree_util.tree_map(lambda x: jnp.full_like(x, jnp.nan), v)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match='no finite input reached'):
        models.measure_ranges(poly, every, batches)
    assert all(lo <= hi for lo, hi in clean.values())


def test_refit_reports_a_refined_reciprocals_error_after_its_newton_steps():
    """The card shows what the forward computes: a degree-4 reciprocal's relative error e,
    then e^(2^N) after its N Newton steps (each squares it)."""
    spec = ApproxSpec(softmax=Site('2quad', param=5.0,
                                   aux=Poly('reciprocal', 4, (0.5, 50.0), newton=2)))
    model = models.create('bert-test', spec=spec, num_classes=2)
    v = model.init(KEY, *_batches()[0])
    _, report = models.refit(model, v, {'layer_0/attn/softmax/recip': (0.5, 50.0)})
    r = report['layer_0/attn/softmax/recip']
    assert r['newton'] == 2 and r['max_error'] > 0.3
    assert r['refined_error'] == pytest.approx(r['max_error'] ** 4)


def test_an_exp_too_wide_for_relative_error_fits_with_absolute_error():
    """Scores spanning [-22.6, 10.8] (measured in the attention menu's polyexp row): a degree-24
    exp cannot be resolved with relative error in float64, and fits with `relative=False`."""
    wide = {'layer_0/attn/softmax/exp': (-22.6, 10.8)}

    def refit(relative):
        spec = ApproxSpec(softmax=Site('polyexp', poly=Poly('exp', 24, (-8.0, 8.0),
                                                                relative=relative),
                                       aux=Poly('reciprocal', 8, (0.5, 4.0))))
        model = models.create('bert-test', spec=spec, num_classes=2)
        return models.refit(model, model.init(KEY, *_batches()[0]), wide)[1]

    with pytest.raises(ValueError, match='relative error'):
        refit(None)
    r = refit(False)['layer_0/attn/softmax/exp']
    assert r['relative'] is False and r['converged'] and r['max_error'] < 1e-3


def test_a_squared_exp_fits_a_wide_interval_with_relative_error():
    """With two squarings the fit resolves exp(x / 4) on [-22.6, 10.8] / 4 with relative
    error, what no degree-24 fit of exp itself reaches (above); the report says so."""
    wide = {'layer_0/attn/softmax/exp': (-22.6, 10.8)}
    spec = ApproxSpec(softmax=Site('polyexp', poly=Poly('exp', 24, (-8.0, 8.0), squarings=2),
                                   aux=Poly('reciprocal', 8, (0.5, 4.0))))
    model = models.create('bert-test', spec=spec, num_classes=2)
    v, report = models.refit(model, model.init(KEY, *_batches()[0]), wide)
    r = report['layer_0/attn/softmax/exp']
    assert r['squarings'] == 2 and r['relative'] and r['converged'] and r['max_error'] < 1e-9
    assert r['interval'] == pytest.approx([-22.6, 10.8])
