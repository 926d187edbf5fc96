"""Export of polyzoo models to Concrete-ML / TFHE circuits (the only package importing concrete).

    onnx_model = to_onnx(fn, example_inputs)     # jaxpr -> ONNX opset 14, batch axis symbolic
    check_onnx(onnx_model, fn, x)                # onnxruntime parity with JAX
    circuit = compile_onnx(onnx_model, calibration, Knobs(quant=QuantSpec(bits=4, rounding_bits=6)))
    report = circuit_report(circuit, fn, x_test, y_test)   # PBS, bits, keys, accuracies
    save_deployment(circuit, out_dir); Client(...); Server(...)
    RemoteClient(url, client_dir, key_dir)       # the client of `polyzoo serve` (HTTP)
    qat.quantized(fn, QuantSpec(bits=4))         # quantisation-aware training (fake quant, STE)
    export_model(resolve(name), out_dir, knobs)  # what `polyzoo export` runs
    tfhe_form(model)                             # clamped polynomials, exact reciprocals

Concrete is imported lazily inside the functions that need it.
"""
from polyzoo.export._check import check_onnx, run_onnx
from polyzoo.export._compile import Circuit, CircuitTooWide, Knobs, compile_onnx
from polyzoo.export import qat
from polyzoo.export._quant_spec import QuantSpec
from polyzoo.export import _protocol as protocol
from polyzoo.export._form import tfhe_form
from polyzoo.export._deploy import (Client, DeploymentError, Request, Response, Server,
                                    agreement, save_deployment)
from polyzoo.export._pipeline import export_model
from polyzoo.export._remote import RemoteClient, ServerError
from polyzoo.export._report import (CircuitReport, circuit_report, format_sizes,
                                    pbs_per_polynomial_size, simulate_batched)
from polyzoo.export._sources import Source, client_encoder, default_knobs, resolve
from polyzoo.export._translate import OPSET, UnsupportedOperation, to_onnx

__all__ = [
    "OPSET", "UnsupportedOperation", "to_onnx", "check_onnx", "run_onnx",
    "QuantSpec", "Knobs", "Circuit", "CircuitTooWide", "compile_onnx",
    "CircuitReport", "circuit_report", "simulate_batched", "pbs_per_polynomial_size",
    "format_sizes",
    "Client", "Server", "Request", "Response", "DeploymentError", "save_deployment",
    "agreement", "RemoteClient", "ServerError", "protocol",
    "Source", "resolve", "default_knobs", "client_encoder", "export_model", "qat", "tfhe_form",
]
