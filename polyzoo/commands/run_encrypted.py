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

    import numpy as np

    from polyzoo.export import Client, Server
    from polyzoo.train import data

    root = Path(args.dir)
    if args.n < 1:
        raise ValueError("-n must be at least 1")
    client = Client(root / "client", Path(args.keys) if args.keys else root / "keys")
    server = Server(root / "server")
    seconds = client.keygen()
    print(f"keys ready in {seconds:.1f} s ({client.key_dir})")
    ds = data.load(client.meta["dataset"])
    x, y = ds.test.inputs[:args.n], ds.test.labels[:args.n]
    outside = client.out_of_range(x)
    if outside:
        print(f"warning: {outside} input values lie outside the calibrated range "
              f"{client.meta['input_range']} and are saturated")
    request = client.encrypt(x)
    response = server.run(request, progress=True)
    logits = client.decrypt(response)
    reference = np.asarray(client.meta["reference"]["simulated"], np.float32)
    print(f"{'i':>3} {'label':>5} {'pred':>4} {'= sim':>5} {'s':>7}")
    agree = []
    for i in range(args.n):
        same = bool(np.array_equal(logits[i], reference[i])) if i < len(reference) else None
        agree.append(same)
        print(f"{i:3d} {int(y[i]):5d} {int(np.argmax(logits[i])):4d} "
              f"{'-' if same is None else ('yes' if same else 'NO'):>5} "
              f"{response.seconds[i]:7.1f}")
    checked = [a for a in agree if a is not None]
    print(f"encrypted == simulated on {sum(checked)}/{len(checked)} samples; "
          f"{np.mean(response.seconds):.1f} s per sample (median "
          f"{np.median(response.seconds):.1f} s)")
    return 0 if all(checked) else 1
