"""Each approximation choice is one registered object: its checks, polynomials, export flag
and encrypted cost agree with the spec and with each other; a new choice is one class."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from polyzoo import nn
from polyzoo.nn import _choice

POLY = nn.Poly('gelu', 8, (-4.0, 4.0))
RECIP = nn.Poly('reciprocal', 6, (0.1, 4.0))


def _example(c: nn.Choice) -> nn.Site:
    """A valid Site of choice c, with every polynomial it may take."""
    return nn.Site(c.name, poly=POLY if c.poly != 'none' else None,
                   aux=RECIP if c.aux != 'none' else None, param=2.0)


def _all():
    return [c for kind in _choice.KINDS for c in nn.choices(kind).values()]


def test_the_menu_is_the_registry():
    assert {k: set(v) for k, v in nn.CHOICES.items()} == {
        k: set(nn.choices(k)) for k in _choice.KINDS}
    for c in _all():
        assert c.summary and nn.get_choice(c.name) is c
        site = _example(c)
        site.check(c.kind, 'test')
        assert site.behaviour is c


def test_exportable_exactly_when_tfhe_has_a_cost():
    for c in _all():
        site = _example(c)
        cost = site.cost(16)
        assert site.exportable == (cost.tfhe_pbs is not None), c.name
        if cost.ckks_depth is not None:
            assert cost.ckks_products is not None and cost.ckks_depth >= 0


def test_costs_follow_the_polynomials_and_the_row_length():
    pointwise = nn.Site('pointwise', poly=POLY).cost(8)
    assert pointwise == _choice.poly_cost(POLY) == nn.Cost(3, 4, 1)
    two_quad = nn.Site('2quad', aux=RECIP, param=1.0)
    short, long = two_quad.cost(4), two_quad.cost(64)
    assert short.ckks_depth == long.ckks_depth == 1 + 3 + 1
    assert long.ckks_products < short.ckks_products  # the reciprocal is paid once per row
    exact = nn.Site('2quad', param=1.0).cost(4)  # exact reciprocal: one lookup per row
    assert exact.ckks_depth is None and exact.ckks_products is None
    assert exact.tfhe_pbs == short.tfhe_pbs == 1 + 2 + 1 / 4
    assert nn.Site('affine').cost(8) == nn.Cost.FREE


def test_a_clamped_polynomial_holds_its_ends_outside_its_interval():
    """Poly.clamp (tfhe_form): free in a TFHE lookup, not a polynomial, serialised only when set."""
    clamped = dataclasses.replace(POLY, clamp=True)
    x = jnp.array([-9.0, -4.0, 0.5, 4.0, 9.0])
    fn = nn.PolyFn(clamped)
    variables = fn.init(jax.random.key(0), x)
    y = np.asarray(fn.apply(variables, x))
    assert y[0] == y[1] and y[3] == y[4]
    plain = np.asarray(nn.PolyFn(POLY).apply(variables, x))
    np.testing.assert_array_equal(plain[1:4], y[1:4])  # inside: the same polynomial
    assert plain[0] != y[0]
    assert _choice.poly_cost(clamped) == nn.Cost(None, None, 1)
    site = nn.Site('poly', poly=clamped)
    assert nn.Site.from_dict(site.to_dict()) == site
    assert 'clamp' not in nn.Site('poly', poly=POLY).to_dict()['poly'] and 'clamp' not in repr(POLY)
    with pytest.raises(ValueError, match="clamp is True or False"):
        nn.Poly('gelu', 8, (-4.0, 4.0), clamp=1)


def test_unknown_choices_and_missing_polynomials_are_named():
    with pytest.raises(ValueError, match="unknown softmax choice 'relu'; valid names: softmax"):
        nn.Site('relu').check('softmax', 'layer_0/attn/softmax')
    with pytest.raises(ValueError, match="needs `poly`"):
        nn.Site('poly_rsqrt').check('norm', 'final_norm')
    with pytest.raises(ValueError, match="takes no `aux`"):
        nn.Site('pointwise', aux=RECIP).check('softmax', 'x')


def test_a_new_choice_is_one_class():
    @_choice.register
    class Cube(nn.Choice):
        kind, name, summary = 'act', 'test-cube', 'x^3 (a test choice)'

        def build(self, site, *, reference=False, name=None):
            return nn.Exact('relu', name=name)  # any module will do for the test

        def cost(self, site, n):
            return nn.Cost(2, 2, 1)
    try:
        spec = nn.ApproxSpec(act=nn.Site('test-cube'))
        assert spec.act.cost(4) == nn.Cost(2, 2, 1) and 'test-cube' in nn.choices('act')
        module = nn.make_activation(spec.act)
        x = jnp.asarray([-1.0, 2.0])
        np.testing.assert_array_equal(module.apply({}, x), [0.0, 2.0])
        with pytest.raises(ValueError, match="two choices named 'test-cube'"):
            _choice.register(dataclasses.make_dataclass('Again', [], bases=(Cube,)))
    finally:
        del _choice._REGISTRY['test-cube']


def test_attention_weights_dispatch_through_the_choice():
    scores = jax.random.normal(jax.random.key(0), (1, 1, 2, 4))
    for name, c in nn.choices('softmax').items():
        if type(c).attend is not nn.AttentionChoice.attend:
            continue  # an attention of its own, without weights (inhibitor: test_inhibitor.py)
        site = _example(c)
        module = nn.AttentionWeights(site)
        variables = module.init(jax.random.key(1), scores)
        w = module.apply(variables, scores)
        assert w.shape == scores.shape and bool(jnp.all(jnp.isfinite(w))), name


def test_polynomial_targets_are_fitting_functions():
    from polyzoo import fitting

    assert set(nn.POLY_FUNCTIONS) <= set(fitting.FUNCTIONS)
    assert set(nn.POLY_FUNCTIONS) == set(nn.EXACT)
