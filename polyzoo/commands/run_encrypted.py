"""`polyzoo run-encrypted DIR`: encrypt test inputs, run the server side, decrypt, compare."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run-encrypted", help="encrypt inputs, run them on the server side, decrypt",
        description="Uses DIR/client (keys in --keys, generated on first use) and DIR/server "
                    "(evaluation keys only) written by `polyzoo export`. Runs the first N "
                    "test samples of the exported model's dataset encrypted, with a progress "
                    "bar, and prints predictions, agreement with the simulation recorded at "
                    "export, and seconds per sample.")
    p.add_argument("dir", help="directory written by `polyzoo export`")
    p.add_argument("-n", type=int, default=2, help="number of test samples (default 2)")
    p.add_argument("--keys", default=None, help="key directory (default DIR/keys)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from polyzoo.export import Client, Server

    root = Path(args.dir)
    if args.n < 1:
        raise ValueError("-n must be at least 1")
    client = Client(root / "client", Path(args.keys) if args.keys else root / "keys")
    server = Server(root / "server")
    seconds = client.keygen()
    print(f"keys ready in {seconds:.1f} s ({client.key_dir})")
    raw, x, y = test_samples(client, args.n)
    request = client.encrypt(x)
    print(f"server: loading {len(request.evaluation_keys) / 2 ** 30:.2f} GiB of evaluation keys")
    response = server.run(request, progress=True)
    logits = client.decrypt(response)
    same_class = print_results(client.meta, raw, y, logits, response.seconds)
    # deployments from before the knob existed were compressed (Concrete-ML's default)
    compressed = client.meta["knobs"].get("compress_keys", True)
    print(latency_line(response.seconds, response.key_seconds, len(request.evaluation_keys),
                       compressed))
    return 0 if same_class.all() else 1


def test_samples(client, n: int):
    """The first n test samples of the deployment's dataset: (raw, circuit inputs computed
    in the clear by the client, labels). Warns about inputs outside the calibrated range."""
    import numpy as np

    from polyzoo.export import client_encoder
    from polyzoo.train import data

    ds = data.load(client.meta["dataset"])
    # Images go in as they are; text is tokenised and embedded here, on the client side.
    raw = ds.test.inputs[:n]
    x = np.asarray(client_encoder(client.meta.get("client_inputs"))(raw), np.float32)
    outside = client.out_of_range(x)
    if outside:
        print(f"warning: {outside} input values lie outside the calibrated range "
              f"{client.meta['input_range']} and are saturated")
    return raw, x, ds.test.labels[:n]


def print_results(meta: dict, raw, y, logits, seconds: list[float]):
    """One row per sample: label, prediction, the simulated prediction recorded at export and
    whether the logits equal it bit for bit, seconds. Returns same-prediction flags."""
    import numpy as np

    from polyzoo.export import agreement

    reference = meta["reference"]["simulated"]
    same_class, same_logits = agreement(logits, reference)
    print(f"{'i':>3} {'label':>5} {'pred':>4} {'sim pred':>8} {'logits = sim':>12} {'s':>7}")
    for i in range(len(logits)):
        known = i < len(same_class)
        sim = str(int(np.argmax(reference[i]))) if known else "-"
        equal = ("yes" if same_logits[i] else "no") if known else "-"
        text = f"  {str(raw[i])[:48]}" if raw.dtype.kind == "U" else ""
        print(f"{i:3d} {int(y[i]):5d} {int(np.argmax(logits[i])):4d} {sim:>8} {equal:>12} "
              f"{seconds[i]:7.1f}{text}")
    print(f"prediction = simulated prediction on {sum(same_class)}/{len(same_class)} samples, "
          f"logits bit-identical on {sum(same_logits)}/{len(same_logits)}")
    p_error = meta["knobs"].get("p_error")
    if p_error and not all(same_logits):
        print(f"(p_error {p_error}: each PBS may err with that probability, independently in "
              "simulation and execution, so logits can differ; export with a smaller --p-error "
              "for bit-identical results)")
    return same_class


def latency_line(seconds: list[float], key_seconds: float, key_bytes: int,
                 compressed: bool) -> str:
    """Server seconds: loading the evaluation keys, then the first sample apart from the
    steady state (median of the others), as a server that keeps a client's keys between
    requests sees it. Compressed keys are expanded during the first sample."""
    import numpy as np

    kind = "compressed" if compressed else "uncompressed"
    text = (f"server: {key_bytes / 2 ** 30:.2f} GiB of {kind} evaluation keys loaded in "
            f"{key_seconds:.1f} s; first sample {seconds[0]:.1f} s"
            + (" (includes expanding the keys)" if compressed else ""))
    if len(seconds) > 1:
        text += (f"; then {np.median(seconds[1:]):.1f} s per sample (median of "
                 f"{len(seconds) - 1})")
    return text
