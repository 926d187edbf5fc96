"""The circuit report: PBS (total and per layer), bit-widths, key sizes, times, accuracies."""
from __future__ import annotations

import dataclasses
import json
import math
import re
import time
import numpy as np

from polyzoo.export._compile import Circuit, layer_of


@dataclasses.dataclass
class CircuitReport:
    """What `circuit_report` measures: PBS per sample (total, per layer, per polynomial size),
    bit-widths, key sizes, compile and key-generation times, float and simulated accuracy on
    the test inputs, and the inputs and integers outside their calibrated ranges.
    `str(report)` is the text `polyzoo export` prints; `to_json()` the --json record."""

    pbs: int                          # programmable bootstraps per sample (compiler statistics)
    pbs_per_layer: dict[str, int]     # by Flax module path (MLIR lookups); see layer_statistics
    max_bit_width: int                # widest integer in the circuit
    # Concrete's cost estimate of one sample (its optimizer's "complexity"): encrypted seconds
    # per sample are close to proportional to it on a given host, unlike the PBS count, since
    # wider lookups cost more per PBS (docs/results/encrypted.md, "How the cost grows").
    cost_estimate: float
    # PBS by the polynomial size of their parameters: Concrete picks it by the width of the
    # lookup's input, and wider polynomials cost more per PBS: much of the latency is here
    pbs_per_polynomial_size: dict[int, int]
    bit_width_per_layer: dict[str, int]
    key_bytes: dict[str, int]         # secret, bootstrap, keyswitch
    compile_seconds: float
    keygen_seconds: float | None
    knobs: dict
    # Error probability of one PBS as compiled (the optimizer's, at most the p_error knob), and
    # the union bound min(1, pbs * p_error) on some PBS of one sample erring. Concrete's
    # simulation draws these errors too, so an encrypted output can differ from its simulation
    # on a sample where either run erred (an error need not reach the output). The compiler's
    # own `global_p_error` is not such a bound: it reads 1e-5 for the 23,040-PBS micro BERT
    # at p_error 1e-5, and two simulations of the 10,688-PBS one (same checkpoint, knobs and
    # 1,309 inputs) disagreed on a prediction.
    p_error: float | None = None
    sample_error_bound: float | None = None
    n_test: int = 0
    float_accuracy: float | None = None
    simulated_accuracy: float | None = None
    simulate_seconds: float | None = None
    agreement_float_simulated: float | None = None  # fraction of equal argmax
    inputs_out_of_range: int = 0      # input elements outside the calibrated range (saturated)
    overflows: int | None = None      # circuit integers beyond their bit-width (would wrap)
    overflow_samples: int = 0         # how many samples the overflow check ran on

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    def summary(self) -> str:
        lines = [f"PBS per sample     {self.pbs}  (by polynomial size: "
                 f"{format_sizes(self.pbs_per_polynomial_size)})",
                 f"max bit-width      {self.max_bit_width}",
                 f"cost estimate      {self.cost_estimate:.3g}  (encrypted seconds follow it)",
                 f"compile            {self.compile_seconds:.1f} s"]
        if self.keygen_seconds is not None:
            lines.append(f"key generation     {self.keygen_seconds:.1f} s")
        if self.sample_error_bound is not None:
            lines.append(f"error probability  {self.p_error:.2g} per PBS, at most "
                         f"{self.sample_error_bound:.2g} per sample (encrypted and simulated "
                         "outputs may then differ)")
        lines.append("keys               " + ", ".join(
            f"{k} {v / 2**20:.1f} MiB" for k, v in self.key_bytes.items()))
        if self.float_accuracy is not None:
            lines.append(f"float accuracy     {100 * self.float_accuracy:.2f}% (n={self.n_test})")
        if self.simulated_accuracy is not None:
            lines.append(f"simulated accuracy {100 * self.simulated_accuracy:.2f}%")
        lines.append(f"inputs out of calibrated range: {self.inputs_out_of_range}")
        if self.overflows is not None:
            lines.append(f"overflowing integers (first {self.overflow_samples} samples): "
                         f"{self.overflows}")
        lines.append("PBS per layer:")
        for layer, n in sorted(self.pbs_per_layer.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {n:8d}  {layer}  ({self.bit_width_per_layer.get(layer, '-')} bits)")
        return "\n".join(lines)


_LOC_DEF = re.compile(r'^(#loc\d+) = loc\("@([^|"]+?)\s*\|')
_OP = re.compile(r'^\s*(%[\w.]+)(?::\d+)? = (.*) loc\((#loc\d+)\)\s*$')
_LUT = re.compile(r'"FHELinalg\.apply_(?:multi_|mapped_)?lookup_table"|"FHE\.apply_lookup_table"')
_RESULT = re.compile(r'-> tensor<([\dx]+)x!FHE')


def _mlir_lookups(circuit) -> list[tuple[str, int]]:
    """(layer, PBS) for every table lookup in the circuit's MLIR, in program order.

    A lookup tagged with a layer (Concrete-ML tags ops by ONNX node name) is that layer's; an
    untagged one (the activation and re-quantisation Concrete-ML fuses after a layer) belongs
    to the nearest tagged op it is computed from, i.e. to the layer whose output it transforms
    ('<input>' if none).
    """
    text = circuit.fhe_circuit._module.mlir_module.operation.get_asm(enable_debug_info=True)
    tags, ops = {}, []
    for line in text.splitlines():
        m = _LOC_DEF.match(line)
        if m:
            tags[m.group(1)] = layer_of(m.group(2).strip())
    for line in text.splitlines():
        m = _OP.match(line)
        if m:
            result, body, loc = m.groups()
            operands = re.findall(r"%[\w.]+", body.split(" : ")[0])
            ops.append((result, body, tags.get(loc), operands))
    producer = {result: i for i, (result, _, _, _) in enumerate(ops)}
    owners: list[str] = []  # SSA ops are in topological order: one forward pass suffices
    for i, (_, _, tag, operands) in enumerate(ops):
        ups = [owners[producer[n]] for n in operands if n in producer]
        owners.append(tag or next((u for u in ups if u != "<input>"), "<input>"))

    lookups = []
    for i, (_, body, _, _) in enumerate(ops):
        if _LUT.search(body):
            shape = _RESULT.search(body)
            n = math.prod(int(d) for d in shape.group(1).split("x")) if shape else 1
            lookups.append((owners[i], n))
    return lookups


def layer_statistics(circuit: Circuit) -> tuple[dict[str, int], dict[str, int]]:
    """(PBS per layer from the MLIR's table lookups, max bit-width per layer from the graph).

    Layers with no lookup are listed with 0. If the compiler's total differs from the lookups
    counted in the MLIR, the difference is
    reported as '<added by compiler>' (exact rounding, key conversions) or, when the compiler
    fused lookups away, as a negative '<fused by compiler>', so the rows sum to the total.
    """
    total = int(circuit.fhe_circuit.statistics["programmable_bootstrap_count"])
    # Every layer of the graph gets a row, 0 when it needs no lookup (e.g. the last layer,
    # whose integers are decrypted as they are).
    pbs: dict[str, int] = {layer_of(n.name): 0 for n in circuit.onnx_model.graph.node
                           if not n.name.startswith("output:")}
    for layer, n in _mlir_lookups(circuit):
        pbs[layer] = pbs.get(layer, 0) + n
    if total != sum(pbs.values()):
        extra = total - sum(pbs.values())
        pbs["<added by compiler>" if extra > 0 else "<fused by compiler>"] = extra
    bits: dict[str, int] = {}
    graph = circuit.fhe_circuit.graph
    for node in graph.graph.nodes:
        width = getattr(node.output.dtype, "bit_width", None)
        if width is not None and node.output.is_encrypted:
            layer = layer_of(node.tag) if node.tag else "<untagged>"
            bits[layer] = max(bits.get(layer, 0), int(width))
    return pbs, bits


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == np.asarray(labels)))


def pbs_per_polynomial_size(statistics) -> dict[int, int]:
    """{polynomial size: PBS per sample} from the compiler's statistics."""
    counts: dict[int, int] = {}
    for params, n in statistics["programmable_bootstrap_count_per_parameter"].items():
        size = int(params.polynomial_size())  # concrete's BootstrapKeyParam
        counts[size] = counts.get(size, 0) + int(n)
    return counts


def format_sizes(counts: dict[int, int]) -> str:
    """'1312 on 256, 424 on 8192': PBS counts by polynomial size, smallest first."""
    return ", ".join(f"{n} on {size}" for size, n in sorted(counts.items()))


def circuit_report(circuit: Circuit, float_fn=None, x_test: np.ndarray | None = None,
                   y_test: np.ndarray | None = None, *, overflow_samples: int = 16,
                   progress: bool = False) -> CircuitReport:
    """Report of a compiled circuit; with a test split, float vs. simulated accuracy.

    float_fn(x) -> logits is the float model (JAX); simulation runs every test sample.
    """
    stats = circuit.fhe_circuit.statistics
    pbs_layers, bit_layers = layer_statistics(circuit)
    report = CircuitReport(
        pbs=int(stats["programmable_bootstrap_count"]),
        pbs_per_layer=pbs_layers,
        pbs_per_polynomial_size=pbs_per_polynomial_size(stats),
        max_bit_width=int(circuit.fhe_circuit.graph.maximum_integer_bit_width()),
        cost_estimate=float(stats["complexity"]),
        bit_width_per_layer=bit_layers,
        key_bytes={"secret": int(stats["size_of_secret_keys"]),
                   "bootstrap": int(stats["size_of_bootstrap_keys"]),
                   "keyswitch": int(stats["size_of_keyswitch_keys"])},
        compile_seconds=circuit.compile_seconds,
        keygen_seconds=circuit.keygen_seconds,
        knobs=circuit.knobs.to_json(),
        p_error=float(circuit.fhe_circuit.p_error),
        sample_error_bound=min(1.0, int(stats["programmable_bootstrap_count"])
                               * float(circuit.fhe_circuit.p_error)),
    )
    if x_test is None:
        return report
    x_test = np.asarray(x_test, np.float32)
    report.n_test = int(x_test.shape[0])
    report.inputs_out_of_range = circuit.out_of_range(x_test)
    start = time.perf_counter()
    simulated = simulate_batched(circuit, x_test, progress=progress)
    report.simulate_seconds = time.perf_counter() - start
    if y_test is not None:
        report.simulated_accuracy = accuracy(simulated, y_test)
    if float_fn is not None:
        float_logits = np.asarray(float_fn(x_test))
        report.agreement_float_simulated = float(np.mean(
            np.argmax(float_logits, -1) == np.argmax(simulated, -1)))
        if y_test is not None:
            report.float_accuracy = accuracy(float_logits, y_test)
    if overflow_samples:
        report.overflows = circuit.overflows(x_test[:overflow_samples])
        report.overflow_samples = min(overflow_samples, report.n_test)
    return report


def simulate_batched(circuit: Circuit, x: np.ndarray, *, chunk: int = 256,
                     progress: bool = False) -> np.ndarray:
    """Simulated outputs for many samples (Concrete simulates one sample at a time)."""
    chunks = range(0, x.shape[0], chunk)
    if progress:
        from tqdm import tqdm
        chunks = tqdm(chunks, desc="simulate", unit="chunk")
    return np.concatenate([circuit.predict(x[i:i + chunk], fhe="simulate") for i in chunks])

