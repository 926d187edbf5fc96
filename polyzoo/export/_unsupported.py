"""Why a primitive cannot go into a TFHE circuit, and which polyzoo replacement to use instead.

Concrete-ML 1.9.0 takes univariate functions as table lookups (PBS) and products and sums of
encrypted values (a constant divided by an encrypted value is univariate: one lookup), but not
a division of one encrypted value by another, a maximum over encrypted values, or the exact
softmax / LayerNorm built from them (see DESIGN.md, "Export route").
"""
from __future__ import annotations

SOFTMAX_HINT = (
    "use a polynomial spec such as 'zimerman' (scaled pointwise attention, Zimerman et al. 2024) "
    "or 'mpcformer' (2Quad, Li et al. 2023)"
)
NORM_HINT = (
    "fold BatchNorm into the next linear layer (vision) or use a spec with a learned affine "
    "norm such as 'thex' (Chen et al. 2022), or a polynomial inverse square root"
)

# primitive -> (what it usually is, what to use instead)
_GENERIC: dict[str, tuple[str, str]] = {
    "exp": ("exponential (exact softmax?)", SOFTMAX_HINT + "; or a fitted polynomial exp"),
    "exp2": ("exponential", "a fitted polynomial exp (polyzoo.fitting.minimax('exp', ...))"),
    "reduce_max": ("maximum over an axis (exact softmax?)", SOFTMAX_HINT),
    "argmax": ("argmax", "compute the argmax on the decrypted logits, on the client"),
    "rsqrt": ("inverse square root (exact LayerNorm?)", NORM_HINT),
    "sqrt": ("square root (exact LayerNorm?)", NORM_HINT),
    "div": ("division of an encrypted value by another", "multiply by the reciprocal of the "
            "divisor (a constant divided by one encrypted value is one table lookup), divide by "
            "a constant or a frozen statistic, or use a fitted polynomial reciprocal"),
    "log": ("logarithm", "a fitted polynomial, or move it to the client after decryption"),
    "gather": ("table lookup by index (embedding?)", "compute embeddings in plaintext on the "
               "client (BERT: method='embed') and export the model from its embeddings"),
}


def explain(primitive: str, where: str) -> str:
    """One sentence: what `primitive` at layer `where` is and what to use instead."""
    lower = where.lower()
    if any(key in lower for key in ("softmax", "attn", "attention")) and primitive in (
        "exp", "reduce_max", "div"):
        return f"exact softmax at {where} ({primitive}): {SOFTMAX_HINT}"
    if any(key in lower for key in ("norm", "ln")) and primitive in ("rsqrt", "sqrt", "div"):
        return f"exact LayerNorm at {where} ({primitive}): {NORM_HINT}"
    if primitive in _GENERIC:
        what, instead = _GENERIC[primitive]
        return f"{what} at {where} (primitive '{primitive}') cannot be encrypted: {instead}"
    return (f"primitive '{primitive}' at {where} has no translation to ONNX for Concrete-ML; "
            "rewrite that layer with supported operations (products, sums, constant divisions, "
            "polynomials, relu)")
