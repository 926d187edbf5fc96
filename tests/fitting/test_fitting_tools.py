"""Evaluation, cost, baselines, composite sign/ReLU, the stored library, bad input, CLI."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from polyzoo.fitting import (
    FUNCTIONS,
    chebeval,
    chebyshev_interpolation,
    composite_relu,
    composite_sign,
    horner,
    least_squares,
    minimax,
    mult_depth,
    nonscalar_mults,
)
from polyzoo.fitting import library


def test_chebeval_and_horner_match_numpy_under_jit_in_float32():
    rng = np.random.default_rng(0)
    cheb = rng.normal(size=9)
    interval = np.array([-3.0, 5.0])
    x = jnp.linspace(-3.0, 5.0, 101, dtype=jnp.float32)
    ref = np.polynomial.chebyshev.chebval((2 * np.asarray(x, np.float64) - 2) / 8, cheb)
    # Coefficients traced (as models pass them), float32 in and out.
    y = jax.jit(chebeval)(jnp.asarray(cheb, jnp.float32), jnp.asarray(interval, jnp.float32), x)
    assert y.dtype == jnp.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, ref, rtol=2e-5, atol=2e-5 * np.abs(ref).max())
    power = np.polynomial.Chebyshev(cheb, domain=interval).convert(
        kind=np.polynomial.Polynomial).coef
    yh = jax.jit(horner)(jnp.asarray(power, jnp.float32), x / 5) if False else None
    yh = jax.jit(horner)(jnp.asarray(power, jnp.float32), x)
    assert yh.dtype == jnp.float32
    np.testing.assert_allclose(yh, ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max())
    # Batched x of any shape, and a gradient through the coefficients.
    g = jax.grad(lambda c: chebeval(c, interval, x.reshape(101, 1)).sum())(jnp.ones(9))
    assert g.shape == (9,) and g.dtype == jnp.float32


def test_fit_power_coefficients_evaluate_like_cheb():
    fit = minimax("sigmoid", (-4.0, 4.0), 7)
    x = np.linspace(-4, 4, 33)
    p_cheb = np.polynomial.chebyshev.chebval(x / 4, fit.cheb)
    np.testing.assert_allclose(np.polyval(fit.power[::-1], x), p_cheb, atol=1e-12)
    y = fit(jnp.asarray(x, jnp.float32))
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(y, p_cheb, atol=1e-5)


def test_cost_counts():
    assert [mult_depth(n) for n in (0, 1, 2, 3, 4, 5, 8, 9, 15, 16, 27, 63)] == [
        0, 0, 1, 2, 2, 3, 3, 4, 4, 4, 5, 6]
    assert [nonscalar_mults(n) for n in (0, 1, 2, 3, 4)] == [0, 0, 1, 2, 2]
    for n in range(2, 64):
        assert mult_depth(n) <= nonscalar_mults(n) <= n - 1
    assert nonscalar_mults(63) < 2 * np.sqrt(63) + 4  # ~ 2 sqrt(n): Paterson-Stockmeyer
    with pytest.raises(ValueError, match="degree"):
        mult_depth(-1)


def test_baselines_match_numpy_and_lose_to_minimax():
    from jax.experimental import enable_x64

    def g64(t):  # gelu on [-8, 8] in t
        with enable_x64():
            return np.asarray(FUNCTIONS["gelu"](jnp.asarray(8 * np.asarray(t, np.float64))))

    interp = chebyshev_interpolation("gelu", (-8.0, 8.0), 15)
    np.testing.assert_allclose(interp.cheb, np.polynomial.chebyshev.chebinterpolate(g64, 15),
                               atol=1e-13)
    ls = least_squares("gelu", (-8.0, 8.0), 15)
    ts = np.linspace(-1, 1, 320)
    np.testing.assert_allclose(ls.cheb, np.polynomial.chebyshev.chebfit(ts, g64(ts), 15),
                               atol=1e-10)
    best = minimax("gelu", (-8.0, 8.0), 15)
    assert best.max_error < ls.max_error and best.max_error < interp.max_error
    assert interp.max_error < 2 * best.max_error * (2 + 2 / np.pi * np.log(16))  # Lebesgue


def test_composite_sign_and_relu():
    comp = composite_sign(2.0**-6, (7, 7, 15))
    assert comp.depth == 3 + 3 + 4 and comp.nonscalar_mults == 4 + 4 + 6
    assert comp.max_error <= comp.bound * (1 + 1e-9) and comp.max_error < 1e-2
    for st in comp.stages:
        assert np.all(st.cheb[0::2] == 0)  # odd
    x = jnp.asarray([-1.0, -0.5, -2.0**-6, 2.0**-6, 0.3, 1.0], jnp.float32)
    s = jax.jit(lambda v: comp(v))(x)
    assert s.dtype == jnp.float32
    np.testing.assert_allclose(s, np.sign(x), atol=comp.max_error + 1e-4)
    # Each stage is more accurate than its single-stage error suggests: composition wins.
    assert comp.stages[0].max_error > 0.5 > comp.max_error * 10
    relu = composite_relu(2.0**-6, (7, 7, 15), bound=4.0)
    assert relu.depth == comp.depth + 1
    # Outside the gap the error is bound * E / 2; inside it is at most ~ eps * bound.
    assert relu.max_error <= 4.0 * 2.0**-6 * 1.01
    xr = jnp.linspace(-4.0, 4.0, 41, dtype=jnp.float32)
    np.testing.assert_allclose(relu(xr), np.maximum(xr, 0), atol=relu.max_error + 1e-4)


def test_library_entries_load_and_refit():
    entries = library.load()
    for fn in ("gelu", "relu", "silu", "exp", "reciprocal", "rsqrt", "tanh", "sigmoid", "sign"):
        assert any(e.function == fn for e in entries.values()), fn
    for name in ("gelu-d15", "tanh-d7", "reciprocal-d7"):
        entry = library.get(name)
        spec = next(t for t in library.TABLE if t[0] == entry.function)
        fit = minimax(entry.function, entry.interval, entry.degree, **spec[3])
        assert fit.max_error == pytest.approx(entry.max_error, rel=1e-8)
        np.testing.assert_allclose(fit.cheb, entry.cheb, atol=1e-9 * np.abs(entry.cheb).max())
        assert entry.certificate <= 1 + 1e-9
        x = jnp.linspace(*entry.interval, 17, dtype=jnp.float32)
        assert entry(x).dtype == jnp.float32
    sign = next(e for e in entries.values() if e.stages)
    assert len(sign.stages) == 3 and sign.max_error < 1e-6
    with pytest.raises(KeyError, match="valid names"):
        library.get("gelu-d999")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(fn="gelu", interval=(-1.0, 1.0), degree=-1), "degree must be >= 0"),
        (dict(fn="gelu", interval=(-1.0, 1.0), degree=10_000), "too high"),
        (dict(fn="gelu", interval=(-1.0, 1.0), degree=2.5), "integer"),
        (dict(fn="gelu", interval=(1.0, 1.0), degree=3), "empty"),
        (dict(fn="gelu", interval=(2.0, -1.0), degree=3), "reversed"),
        (dict(fn="gelu", interval=(0.0, float("inf")), degree=3), "finite"),
        (dict(fn="gelu", interval=(0.0, float("nan")), degree=3), "finite"),
        (dict(fn="gelu", interval=(0.0, 1.0, 2.0), degree=3), "shape"),
        (dict(fn="reciprocal", interval=(-1.0, 1.0), degree=3), "NaN or inf"),
        (dict(fn="rsqrt", interval=(-1.0, 1.0), degree=3), "NaN or inf"),
        (dict(fn="reciprocal", interval=(-1.0, 2.0), degree=3), "pole or a discontinuity"),
        (dict(fn="sign", interval=(-1.0, 2.0), degree=3), "pole or a discontinuity"),
        (dict(fn="gelu", interval=(-2.0, 2.0), degree=4, parity="even"), "not even"),
        (dict(fn="exp", interval=(-2.0, 2.0), degree=5, parity="odd"), "not odd"),
        (dict(fn="abs", interval=(-1.0, 2.0), degree=4, parity="even"), "symmetric"),
        (dict(fn="gelu", interval=(-1.0, 1.0), degree=4, parity="sideways"), "parity"),
        (dict(fn="tanh", interval=(-1.0, 1.0), degree=4, relative=True), "relative"),
        (dict(fn="exp", interval=(4.0, 200.0), degree=4, relative=True), "worse than a const"),
        (dict(fn="nope", interval=(-1.0, 1.0), degree=4), "unknown function"),
        (dict(fn="math:nothing_here", interval=(-1.0, 1.0), degree=4), "cannot load"),
        (dict(fn="math:erf", interval=(-1.0, 1.0), degree=4), "cannot be evaluated as a JAX"),
        (dict(fn="numpy:sum", interval=(-1.0, 1.0), degree=4), "elementwise"),
        (dict(fn="gelu", interval=(-1.0, 1.0), degree=4, gap=0.5), "gap"),
        (dict(fn="sign", interval=(-1.0, 1.0), degree=5, parity="odd", gap=1.0), "gap"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs, match):
    kwargs = dict(kwargs)
    fn, interval, degree = kwargs.pop("fn"), kwargs.pop("interval"), kwargs.pop("degree")
    with pytest.raises(ValueError, match=match):
        minimax(fn, interval, degree, **kwargs)


def test_bad_eps_gets_a_clear_error():
    for eps in (0.0, 1.0, -0.5, 2.0):
        with pytest.raises(ValueError, match=r"eps must be in \(0, 1\)"):
            composite_sign(eps)


def test_cli_json(capsys):
    from polyzoo.cli import main

    assert main(["fit", "abs", "--interval", "-1", "1", "--degree", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("function", "interval", "degree", "max_error", "levelled_error", "iterations",
                "coefficients", "basis"):
        assert key in out
    assert out["function"] == "abs" and out["degree"] == 2 and out["basis"] == "chebyshev"
    assert out["max_error"] == pytest.approx(0.125, rel=1e-12)
    np.testing.assert_allclose(out["power_coefficients"], [0.125, 0, 1], atol=1e-12)
    assert main(["fit", "sign", "--interval", "-1", "1", "--degree", "3", "--eps", "1.5"]) == 2
    assert "--eps must be in (0, 1)" in capsys.readouterr().err
    assert main(["fit", "gelu", "--interval", "3", "-3", "--degree", "3"]) == 2
    assert "reversed" in capsys.readouterr().err


def test_cli_sign_and_plot(tmp_path, capsys):
    from polyzoo.cli import main

    png = tmp_path / "sign.png"
    rc = main(["fit", "sign", "--interval", "-1", "1", "--degree", "7", "--eps", "0.25",
               "--plot", str(png), "--json"])
    assert rc == 0 and png.stat().st_size > 10_000
    out = json.loads(capsys.readouterr().out)
    assert out["parity"] == "odd" and out["certificate"] <= 1 + 1e-9
    assert all(c == 0 for c in out["coefficients"][0::2])


@pytest.mark.slow
def test_library_regenerates_to_the_stored_data(tmp_path):
    fresh = {r["name"]: r for r in library.regenerate(tmp_path)}
    stored = library.load()
    assert set(fresh) == set(stored)
    for name, entry in stored.items():
        assert fresh[name]["max_error"] == pytest.approx(entry.max_error, rel=1e-8, abs=1e-15)
        if not entry.stages:
            np.testing.assert_allclose(fresh[name]["cheb"], entry.cheb,
                                       atol=1e-9 * np.abs(entry.cheb).max())
    assert (tmp_path / "README.md").read_text().count("|") > 100
