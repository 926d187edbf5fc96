"""The one door to Concrete (concrete-python and Concrete-ML): imported lazily and quietly.

    fhe = concrete.fhe()                  # concrete.fhe
    deployment = concrete.deployment()    # concrete.ml.deployment (FHEModelDev/Client/Server)
    concrete.compile_onnx_model(...)      # concrete.ml.torch.compile.compile_onnx_model

Importing Concrete-ML imports torch.utils.cpp_extension, which prints "No CUDA runtime is
found, using CUDA_HOME=..." on any machine that has nvcc and no GPU: a line about torch's
extension builder that says nothing about polyzoo, so it, and only it, is held back here.
"""
from __future__ import annotations

import contextlib
import functools
import io
import sys

_NOISE = "No CUDA runtime is found"


@functools.cache
def _imported():
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        import torch.utils.cpp_extension  # noqa: F401  (prints the line on import)
    for line in captured.getvalue().splitlines():
        if not line.startswith(_NOISE):
            print(line, file=sys.stderr)
    import concrete.fhe
    import concrete.ml
    import concrete.ml.deployment
    import concrete.ml.torch.compile
    return concrete


def fhe():
    """concrete.fhe (concrete-python)."""
    return _imported().fhe


def deployment():
    """concrete.ml.deployment: FHEModelDev, FHEModelClient, FHEModelServer."""
    return _imported().ml.deployment


def compile_onnx_model(*args, **kwargs):
    """concrete.ml.torch.compile.compile_onnx_model."""
    return _imported().ml.torch.compile.compile_onnx_model(*args, **kwargs)


def version() -> str:
    """The Concrete-ML version."""
    return _imported().ml.__version__
