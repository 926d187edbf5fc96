"""The small circuit the FHE tests share: a 2-layer MLP with a quadratic activation, 3 bits,
7 PBS; p_error 2^-20, so an encrypted execution is bit-identical to the simulation."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from polyzoo.export import Knobs, QuantSpec, compile_onnx, to_onnx


class TinyMLP(nn.Module):
    """2-layer MLP with a polynomial activation: one table lookup per hidden unit."""
    hidden: int = 4

    @nn.compact
    def __call__(self, x):
        h = nn.Dense(self.hidden, name="fc1")(x)
        h = jnp.float32(0.25) * h * h + h  # a quadratic activation (MPCFormer's quad shape)
        return nn.Dense(3, name="fc2")(h)


def data(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)


def compile_tiny():
    """(fn, circuit, inputs (200, 4), the float model's own labels)."""
    x = data(200)
    model = TinyMLP()
    fn = functools.partial(model.apply, model.init(jax.random.key(1), x[:1]))
    labels = np.argmax(np.asarray(fn(x)), -1)
    circuit = compile_onnx(to_onnx(fn, x[:1]), x,
                           Knobs(quant=QuantSpec(bits=3), p_error=2.0 ** -20))
    return fn, circuit, x, labels


def secret_key_chunks(key_dir):
    """Tails of the client's secret key files: bytes that must appear nowhere on a server."""
    files = [p for p in key_dir.rglob("*") if p.is_file() and p.name.startswith("secretKey")]
    assert files, f"no secret key files under {key_dir}"
    return [p.read_bytes()[-256:] for p in files]
