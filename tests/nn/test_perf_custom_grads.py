"""The speed-motivated rewrites compute what the plain forms compute: values and gradients of
the custom-backward BatchNorm and range penalty, the ones-vector reductions, the erf GELU."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from polyzoo import models
from polyzoo.models._range_penalty import range_penalty, range_penalty_reference
from polyzoo.nn import EXACT, BatchNorm
from polyzoo.nn._batch_norm import batch_normalise, batch_normalise_reference
from polyzoo.nn._reduce import max_last, mean_leading, mean_last, sum_last

KEYS = jax.random.split(jax.random.key(0), 8)


def _close(a, b, tol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


@pytest.mark.parametrize('jit', [False, True])
def test_batch_normalise_matches_autodiff_of_plain_form(jit):
    x = jax.random.normal(KEYS[0], (96, 8)) * 3.0 + 1.5
    scale = jax.random.normal(KEYS[1], (8,))
    bias = jax.random.normal(KEYS[2], (8,))
    ct_y = jax.random.normal(KEYS[3], (96, 8))
    ct_m, ct_v = jax.random.normal(KEYS[4], (8,)), jax.random.normal(KEYS[5], (8,))

    def objective(fn):  # every output carries a cotangent, the statistics included
        def f(x, scale, bias):
            y, m, v = fn(x, scale, bias, 1e-5)
            return jnp.sum(y * ct_y) + jnp.sum(m * ct_m) + jnp.sum(v * ct_v)
        grad = jax.grad(f, argnums=(0, 1, 2))
        return jax.jit(grad) if jit else grad

    _close(batch_normalise(x, scale, bias, 1e-5), batch_normalise_reference(x, scale, bias, 1e-5),
           1e-5)
    _close(objective(batch_normalise)(x, scale, bias),
           objective(batch_normalise_reference)(x, scale, bias), 1e-4)


def test_batchnorm_module_training_gradient_and_stats():
    x = jax.random.normal(KEYS[0], (4, 6, 8)) * 2.0 - 1.0
    ct = jax.random.normal(KEYS[1], (4, 6, 8))
    bn = BatchNorm()
    v = bn.init(KEYS[2], x)
    v = {'params': {'scale': jax.random.normal(KEYS[3], (8,)), 'bias': v['params']['bias']},
         'batch_stats': v['batch_stats']}

    def loss(params, x):
        y, upd = bn.apply({**v, 'params': params}, x, train=True, mutable=['batch_stats'])
        return jnp.sum(y * ct), upd

    def plain(params, x):
        y, _, _ = batch_normalise_reference(x.reshape(-1, 8), params['scale'], params['bias'],
                                            bn.eps)
        return jnp.sum(y.reshape(x.shape) * ct)

    (value, upd), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(v['params'], x)
    ref_value, ref_grads = jax.value_and_grad(plain, argnums=(0, 1))(v['params'], x)
    np.testing.assert_allclose(value, ref_value, rtol=1e-5)
    _close(grads, ref_grads, 1e-4)
    rows = x.reshape(-1, 8)
    np.testing.assert_allclose(upd['batch_stats']['mean'], 0.1 * rows.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(upd['batch_stats']['var'], 0.9 + 0.1 * rows.var(0), rtol=1e-5)


def test_range_penalty_matches_autodiff_of_plain_form():
    # values on both sides of [-1, 2] and inside; none exactly on a boundary
    x = jax.random.normal(KEYS[0], (5, 7, 9)) * 3.0 + 0.25
    lo, hi = jnp.float32(-1.0), jnp.float32(2.0)
    np.testing.assert_allclose(range_penalty(x, lo, hi), range_penalty_reference(x, lo, hi),
                               rtol=1e-6)
    g = jax.grad(range_penalty, argnums=(0, 1, 2))(x, lo, hi)
    g_ref = jax.grad(range_penalty_reference, argnums=(0, 1, 2))(x, lo, hi)
    _close(g, g_ref, 1e-5)
    assert float(jnp.abs(g[1])) > 0 and float(jnp.abs(g[2])) > 0  # both sides exercised


def test_range_loss_equals_its_formula():
    """mean((distance outside / width)^2) summed over polynomial sites, gradient included."""
    model = models.create('vit-test', spec='polyzoo')
    x = jax.random.uniform(KEYS[0], (4, 28, 28, 1), jnp.float32) * 40.0  # far outside
    v = model.init(KEYS[1], x)
    _, state = model.apply(v, x, mutable=['intermediates'])

    def formula(inter):
        xs = models.site_inputs(inter)
        total = jnp.float32(0.0)
        for s, (_, iv) in models.approx_sites(v).items():
            e = (jax.nn.relu(xs[s] - iv[1]) + jax.nn.relu(iv[0] - xs[s])) / (iv[1] - iv[0])
            total = total + jnp.mean(jnp.square(e))
        return total

    inter = state['intermediates']
    assert float(formula(inter)) > 0
    np.testing.assert_allclose(models.range_loss(inter, v), formula(inter), rtol=1e-5)
    _close(jax.grad(lambda i: models.range_loss(i, v))(inter), jax.grad(formula)(inter), 1e-5)


@pytest.mark.parametrize('shape', [(3, 5, 384), (4, 7), (2, 3, 64), (2, 33)])
def test_ones_vector_reductions(shape):
    x = jax.random.normal(KEYS[0], shape) * 4.0
    np.testing.assert_allclose(sum_last(x), jnp.sum(x, axis=-1, keepdims=True), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(mean_last(x), jnp.mean(x, axis=-1, keepdims=True), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(mean_leading(x), jnp.mean(x.reshape(-1, shape[-1]), axis=0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(max_last(x), jnp.max(x, axis=-1, keepdims=True))


def test_exact_gelu_is_the_erf_form():
    x = jnp.linspace(-12.0, 12.0, 4001, dtype=jnp.float32)
    ref = lambda x: jax.nn.gelu(x, approximate=False)
    np.testing.assert_allclose(EXACT['gelu'](x), ref(x), atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(jax.grad(EXACT['gelu']))(x), jax.vmap(jax.grad(ref))(x),
                               atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize('degree', [1, 8, 24])
def test_poly_eval_derivative_matches_autodiff_of_chebeval(degree):
    from polyzoo.fitting import chebeval
    from polyzoo.nn import chebyshev_init
    from polyzoo.nn._poly_eval import poly_eval

    cheb = jnp.asarray(chebyshev_init('gelu', degree, (-5.0, 7.0)))
    interval = jnp.asarray([-5.0, 7.0], jnp.float32)
    x = jax.random.uniform(KEYS[0], (40, 7), minval=-6.0, maxval=8.0)
    ct = jax.random.normal(KEYS[1], (40, 7))
    np.testing.assert_array_equal(poly_eval(cheb, interval, x), chebeval(cheb, interval, x))
    grads = [jax.grad(lambda c, i, x: jnp.sum(f(c, i, x) * ct), argnums=(0, 1, 2))
             for f in (poly_eval, chebeval)]
    _close(grads[0](cheb, interval, x), grads[1](cheb, interval, x), 1e-4)
    # forward mode, every input's tangent at once
    tangents = (jax.random.normal(KEYS[2], cheb.shape), jnp.asarray([0.3, -0.2], jnp.float32),
                jax.random.normal(KEYS[3], x.shape))
    _close(jax.jvp(poly_eval, (cheb, interval, x), tangents),
           jax.jvp(chebeval, (cheb, interval, x), tangents), 1e-4)


def test_poly_site_in_a_model_trains_through_custom_derivative():
    """A polynomial-forward model's parameter gradient equals the one through plain chebeval."""
    from polyzoo.nn import _activations

    model = models.create('vit-test', spec='polyzoo')
    x = jax.random.uniform(KEYS[0], (4, 28, 28, 1), jnp.float32)
    v = model.init(KEYS[1], x)
    loss = lambda p: jnp.sum(model.apply({**v, 'params': p}, x, train=True,
                                         mutable=['batch_stats'])[0] ** 2)
    g = jax.grad(loss)(v['params'])
    from polyzoo.fitting import chebeval
    original = _activations.poly_eval
    _activations.poly_eval = chebeval
    try:
        g_plain = jax.grad(loss)(v['params'])
    finally:
        _activations.poly_eval = original
    _close(g, g_plain, 1e-4)
