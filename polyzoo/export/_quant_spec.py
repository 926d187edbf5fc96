"""The circuit's quantisation as one value: its grids and its accumulator rounding."""
from __future__ import annotations

import dataclasses

_BITS = range(2, 17)  # Concrete's table lookups take at most 16-bit inputs


@dataclasses.dataclass(frozen=True)
class QuantSpec:
    """How a network becomes integers in its TFHE circuit. Static: every field changes the
    graph. The QAT emulation (`qat.quantized`), QAT training (`micro.qat_finetune`), the
    compiler's knobs (`Knobs.quant`) and the zoo manifest's 'qat' record all take this one
    value, so the circuit that is trained is the circuit that is compiled.

    bits: activations, on unsigned grids over their calibrated ranges (Concrete-ML's n_bits
        of op inputs and outputs).
    rounding_bits: every accumulator rounded to its this-many most significant bits before
        its table lookup (Concrete-ML's `rounding_threshold_bits`, `fhe.round_bit_pattern`);
        None: not rounded (and lookups as wide as the accumulators).
    product_bits: operands of encrypted x encrypted products (None: bits). Each scalar
        product costs two lookups on a + b and a - b, so this width sets much of the cost.
    weight_bits: the weights' signed narrow symmetric grids (None: bits).
    input_bits: the model input's own grid (Concrete-ML's `model_inputs`; unsigned, or
        signed symmetric where `signed` marks its site), a quantisation site of its own.
        None: bits in the circuit, but no site, so the emulation skips Concrete-ML's own
        quantiser of the input, which it applies whenever the input feeds more than one
        quantiser (a residual block's input); the emulation is then not exact.
        `micro.qat_stage` sets it.
    signed: per quantisation site in trace order, whether a data operand of a product with
        weights gets a signed symmetric grid (`qat.signed_sites`); (): unsigned everywhere.
    """
    bits: int = 4
    rounding_bits: int | None = None
    product_bits: int | None = None
    weight_bits: int | None = None
    input_bits: int | None = None
    signed: tuple[bool, ...] = ()

    def __post_init__(self):
        for name in ("bits", "rounding_bits", "product_bits", "weight_bits", "input_bits"):
            value = getattr(self, name)
            if value is not None and int(value) not in _BITS:
                raise ValueError(f"QuantSpec {name}={value}: use 2..16 bits (4-7 keeps TFHE "
                                 "fast)")
        object.__setattr__(self, "signed", tuple(bool(s) for s in self.signed or ()))

    def record(self) -> dict:
        """The manifest's 'qat' fields (JSON), as zoo entries store them."""
        return {"n_bits": self.bits, "rounding_bits": self.rounding_bits,
                "product_bits": self.product_bits, "input_bits": self.input_bits,
                "weight_bits": self.weight_bits, "signed": list(self.signed)}

    @classmethod
    def from_record(cls, record: dict) -> "QuantSpec":
        """The spec of a manifest 'qat' record (`record`); fields it lacks take defaults."""
        return cls(bits=record["n_bits"], rounding_bits=record.get("rounding_bits"),
                   product_bits=record.get("product_bits"),
                   weight_bits=record.get("weight_bits"), input_bits=record.get("input_bits"),
                   signed=tuple(record.get("signed") or ()))
