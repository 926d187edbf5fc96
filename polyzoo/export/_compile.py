"""Compile an exported ONNX graph into a Concrete-ML TFHE circuit, and run it.

Knobs: the quantisation (`quant`, a `QuantSpec`: bit-widths and the rounding of accumulators
before each table lookup, Concrete-ML's `n_bits` and `rounding_threshold_bits`), `p_error`
(per-PBS error probability) or `global_p_error` (whole circuit). Fewer bits and a larger
p_error are faster.
Two knobs of Concrete's own (see Knobs): `partition`, how its optimiser groups the lookups
that share crypto parameters, and `compress_keys`, whether the evaluation keys travel seeded.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import time
from typing import Any

import numpy as np
import onnx

from polyzoo.export import _concrete as concrete
from polyzoo.export._quant_spec import QuantSpec

MAX_TLU_BITS = 16  # Concrete's limit on the bit-width of a table lookup input
PARTITIONS = ("precision", "precision_and_norm2")  # Concrete's multi_parameter_strategy names


class CircuitTooWide(ValueError):
    """The circuit needs a table lookup wider than Concrete allows; names layer and knobs."""


@dataclasses.dataclass(frozen=True)
class Knobs:
    """Settings that change the circuit (static): see the module docstring."""
    quant: QuantSpec = QuantSpec(bits=4)
    p_error: float | None = None
    global_p_error: float | None = None
    # "exact" or "approximate" (cheaper; its off-by-one errors are drawn independently in
    # simulation and in execution, so encrypted results differ from simulated ones).
    # None: "exact" for graphs with QAT quantisers (their training emulated exact rounding),
    # "approximate" otherwise.
    rounding_method: str | None = None
    # Concrete's multi_parameter_strategy. "precision" (its default): lookups of one input
    # width share crypto parameters. "precision_and_norm2": they are also split by the noise
    # growth feeding them, so fewer of them pay for the worst. The integers are the same. On
    # the zoo's micro ViT (2026-11-22, bench/bench_crypto_knobs.py --vary partition, then
    # named bench_partition.py): 0.86x the time per encrypted image (0.70x by the medians of
    # separate runs), but 247 s to compile instead of 17 (paid again by the first
    # simulation, which compiles its own circuit), 61 s of key generation instead of 29 and
    # 6.8 GiB of evaluation keys in memory instead of 3.9.
    partition: str = "precision"
    # Whether the client sends its evaluation keys compressed (seeded; Concrete-ML's default).
    # Measured on the zoo's micro ViT (2026-11-22, bench/bench_crypto_knobs.py --vary
    # compress_keys, images in turns): compressed, the keys to send are 0.41 GiB instead of
    # 3.05, but the server expands them during its first encrypted run: 64.8 s for the first
    # image against 52.7 s uncompressed (69.9 against 44.4 in an earlier run), and the same
    # 45 s per image after it. Uncompressed, the client's key generation does that work
    # instead (35 s against 27 s), and the server takes about 30 s instead of 6 to load them.
    # polyzoo's default: uncompressed, so that no image pays for it; compress where the
    # upload matters more.
    compress_keys: bool = False

    def __post_init__(self):
        if not isinstance(self.quant, QuantSpec):
            raise TypeError(f"Knobs(quant={self.quant!r}): pass a QuantSpec, e.g. "
                            "Knobs(quant=QuantSpec(bits=4, rounding_bits=6))")
        if self.partition not in PARTITIONS:
            raise ValueError(f"partition {self.partition!r}: use one of {', '.join(PARTITIONS)}")

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "quant": self.quant.record()}

    def concrete_rounding(self, qat: bool = False):
        """Concrete-ML's rounding_threshold_bits."""
        if self.quant.rounding_bits is None:
            return None
        method = self.rounding_method or ("exact" if qat else "approximate")
        if method not in ("approximate", "exact"):
            raise ValueError(f"rounding_method {method!r}: use 'approximate' or 'exact'")
        return {"n_bits": int(self.quant.rounding_bits), "method": method}

    def concrete_configuration(self):
        """Concrete's Configuration for these knobs (None: Concrete-ML's own default)."""
        if self.quant.rounding_bits is None and self.partition == PARTITIONS[0]:
            return None
        fhe = concrete.fhe()
        return fhe.Configuration(
            parameter_selection_strategy=fhe.ParameterSelectionStrategy.MULTI,
            multi_parameter_strategy=self.partition)

    def concrete_n_bits(self, qat: bool = False):
        """Concrete-ML's n_bits: quant.bits for activations and outputs, quant.input_bits (else
        bits) for the model input, and for weights quant.weight_bits (else bits); a QAT graph
        carries its weights' grids in its Quant nodes, and Concrete-ML gets bits there as
        before. Measured on the micro ViT: Concrete-ML's default of 5 input/output bits costs
        one re-quantising PBS per input element, and it quantises every Reshape input at
        model_outputs bits (2,966 vs 2,064 PBS at n = 4)."""
        q = self.quant
        weights = q.bits if qat else (q.weight_bits or q.bits)
        return {"model_inputs": int(q.input_bits or q.bits), "op_inputs": int(q.bits),
                "op_weights": int(weights), "model_outputs": int(q.bits)}


@dataclasses.dataclass
class Circuit:
    """A compiled circuit: the Concrete-ML QuantizedModule plus what polyzoo measured."""
    module: Any                 # concrete.ml.quantization.QuantizedModule
    onnx_model: onnx.ModelProto
    knobs: Knobs
    compile_seconds: float
    input_range: tuple[float, float]   # calibrated float range of the model input
    keygen_seconds: float | None = None

    @property
    def fhe_circuit(self):
        return self.module.fhe_circuit

    def keygen(self, force: bool = False) -> float:
        """Generate client keys; returns (and records) the seconds it took."""
        start = time.perf_counter()
        self.fhe_circuit.keygen(force=force)
        self.keygen_seconds = time.perf_counter() - start
        return self.keygen_seconds

    def out_of_range(self, x: np.ndarray) -> int:
        """Input elements outside the calibrated range (Concrete would saturate them)."""
        lo, hi = self.input_range
        x = np.asarray(x, np.float32)
        return int(np.sum((x < lo) | (x > hi)))

    def predict(self, x: np.ndarray, fhe: str = "simulate") -> np.ndarray:
        """Float outputs of the quantised circuit: fhe in 'disable', 'simulate', 'execute'."""
        return self.module.forward(np.asarray(x, np.float32), fhe=fhe)

    def overflows(self, x: np.ndarray) -> int:
        """Integers (over all nodes of the circuit, all samples) beyond their assigned bit-width:
        values the encrypted circuit would wrap silently. Should be 0."""
        graph = self.fhe_circuit.graph
        q = self.module.quantize_input(np.asarray(x, np.float32))
        count = 0
        for i in range(q.shape[0]):
            values = graph.evaluate(q[[i]])
            for node, value in values.items():
                dtype = node.output.dtype
                if not hasattr(dtype, "bit_width") or not node.output.is_encrypted:
                    continue
                lo, hi = (dtype.min(), dtype.max())
                value = np.asarray(value)
                count += int(np.sum((value < lo) | (value > hi)))
        return count


_WIDE = re.compile(r"this (\d+)-bit value is used as an input to a table lookup")
_TAG = re.compile(r"@ ([^\s]+)")


def layer_of(tag: str) -> str:
    """'layer_0/attn:MatMul_12.matmul' -> 'layer_0/attn' (ONNX node names are 'layer:op')."""
    return tag.split(":")[0] if ":" in tag else (tag.split(".")[0] or "<untagged>")


def _too_wide_message(err: Exception) -> str:
    """Name the layer whose accumulator feeds a too-wide table lookup, and the knobs."""
    lines = str(err).splitlines()
    bits, layer = "more than 16", "an unnamed layer"
    for i, line in enumerate(lines):
        match = _WIDE.search(line)
        if match:
            bits = match.group(1)
            tags = _TAG.findall(lines[i - 1]) if i else []
            layer = layer_of(tags[-1]) if tags else layer
            break
    return (f"the circuit needs a {bits}-bit table lookup (Concrete's limit is {MAX_TLU_BITS}) "
            f"after layer {layer}: lower the bit-width (--n-bits, QuantSpec.bits), or round "
            "accumulators before each lookup (--rounding, e.g. 6; QuantSpec.rounding_bits), or "
            "narrow that layer's input range (quantisation-aware training, tighter "
            "calibration)")


def fuse_gemm(model: onnx.ModelProto) -> onnx.ModelProto:
    """MatMul(x, W) + b (b an initializer; W one, or the Quant node of one) -> one Gemm named
    after the layer.

    Concrete-ML does this fusion itself but names every such node 'Gemm_Node', which would
    merge all layers in the per-layer report; fusing first keeps the layer names.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    inits |= {n.output[0] for n in graph.node  # trained weight quantisers (QAT graphs)
              if n.op_type == "Quant" and all(i in inits for i in n.input)}
    users: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    drop, replace = set(), {}
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in inits:
            continue
        nxt = users.get(node.output[0], [])
        if len(nxt) != 1 or nxt[0].op_type != "Add":
            continue
        add = nxt[0]
        bias = [n for n in add.input if n != node.output[0]]
        if len(bias) != 1 or bias[0] not in inits:
            continue
        gemm = onnx.helper.make_node("Gemm", [node.input[0], node.input[1], bias[0]],
                                     [add.output[0]], name=node.name.replace("MatMul", "Gemm"),
                                     alpha=1.0, beta=1.0)
        replace[add.name] = gemm
        drop.add(node.name)
    nodes = [replace.get(n.name, n) for n in graph.node if n.name not in drop]
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def drop_output_identities(model: onnx.ModelProto) -> onnx.ModelProto:
    """Let the node before each trailing Identity write the graph output itself.

    Concrete-ML treats an Identity as one more op: it re-quantises its input to model_outputs
    bits with a table lookup per output, which both costs PBS and coarsens the logits
    (measured on the micro ViT: 6-bit logits, about 1 point of accuracy).
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    outputs = {o.name for o in graph.output}
    inputs = {i.name for i in graph.input}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    produced = {o for node in graph.node for o in node.output}
    renames = {}
    for node in graph.node:
        source = node.input[0] if node.input else None
        if (node.op_type == "Identity" and node.output[0] in outputs and source in produced
                and source not in inputs and source not in outputs and readers[source] == 1):
            renames[source] = node.output[0]
    if not renames:
        return model
    kept = [n for n in graph.node if not (n.op_type == "Identity" and n.input[0] in renames)]
    for node in kept:
        for j, name in enumerate(node.output):
            node.output[j] = renames.get(name, name)
    del graph.node[:]
    graph.node.extend(kept)
    return model


def has_quantizers(onnx_model: onnx.ModelProto) -> bool:
    """Whether the graph carries its own (QAT) quantisers: Concrete-ML then imports their grids
    (`import_qat=True`) instead of calibrating its own."""
    return any(n.op_type == "Quant" and n.domain for n in onnx_model.graph.node)


@contextlib.contextmanager
def _key_compression(on: bool):
    """Concrete-ML 1.9.0 reads evaluation-key compression from the environment when it compiles
    (USE_KEY_COMPRESSION, default on) and has no argument for it: set it for one compilation."""
    old = os.environ.get("USE_KEY_COMPRESSION")
    os.environ["USE_KEY_COMPRESSION"] = "1" if on else "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["USE_KEY_COMPRESSION"]
        else:
            os.environ["USE_KEY_COMPRESSION"] = old


def compile_onnx(onnx_model: onnx.ModelProto, calibration: np.ndarray, knobs: Knobs = Knobs(),
                 *, verbose: bool = False) -> Circuit:
    """Quantise from `calibration` (N, ...) float32 and compile to a TFHE circuit. A graph with
    Quant nodes (`to_onnx` of a `qat.quantized(..., emulate=False)` function) keeps its grids.

    Raises CircuitTooWide (a ValueError naming the layer and the knobs) when a table lookup
    would need more than 16 bits.
    """
    calibration = np.asarray(calibration, np.float32)
    if calibration.ndim < 2 or calibration.shape[0] < 2:
        raise ValueError("calibration must be a batch (N >= 2, ...) of representative inputs")
    start = time.perf_counter()
    try:
        qat = has_quantizers(onnx_model)
        with _key_compression(knobs.compress_keys):
            module = concrete.compile_onnx_model(
                fuse_gemm(drop_output_identities(onnx_model)), calibration, import_qat=qat,
                n_bits=knobs.concrete_n_bits(qat),
                rounding_threshold_bits=knobs.concrete_rounding(qat), p_error=knobs.p_error,
                global_p_error=knobs.global_p_error,
                configuration=knobs.concrete_configuration(), verbose=verbose)
    except RuntimeError as err:
        if _WIDE.search(str(err)):
            raise CircuitTooWide(_too_wide_message(err)) from None
        if knobs.partition != PARTITIONS[0]:  # its optimiser has failed on a micro ViT before
            raise RuntimeError(f"Concrete failed to compile with partition={knobs.partition!r} "
                               f"({err}); compile with the default, partition='precision' "
                               "(--partition precision)") from err
        raise
    seconds = time.perf_counter() - start
    return Circuit(module, onnx_model, knobs, seconds,
                   (float(calibration.min()), float(calibration.max())))
