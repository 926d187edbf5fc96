"""polyzoo: polynomial (HE-friendly) transformers in JAX.

Sub-packages:
  polyzoo.fitting  jit-compiled minimax (Remez) fitting, Chebyshev tools, composite polynomials
  polyzoo.nn       replaceable nonlinearities and norms, approximation specs
  polyzoo.models   BERT and ViT (exact and polynomial from one definition)
  polyzoo.train    data, losses, training loops
  polyzoo.zoo      registry and orbax checkpoints
  polyzoo.export   jaxpr -> ONNX -> Concrete-ML (TFHE)
"""
__version__ = "0.1.0"


def load(name: str):
    """The zoo entry NAME as `ZooEntry(model, variables, spec, meta)` (see polyzoo.zoo.load)."""
    from polyzoo.zoo import load as _load  # lazy: `import polyzoo` stays light

    return _load(name)
