"""`polyzoo client URL DIR`: encrypted inference through a `polyzoo serve` server."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "client", help="encrypt inputs here, run them on a `polyzoo serve` server, decrypt",
        description="Generates keys in --keys (or reuses them), uploads the evaluation keys to "
                    "the server at URL once (with a progress bar; the secret key never leaves "
                    "this machine), then encrypts the first N test samples of the model's "
                    "dataset (after what the client computes in the clear), sends them, "
                    "decrypts, and prints predictions, seconds per input and whether each "
                    "equals the simulation recorded at export.")
    p.add_argument("url", help="the server, e.g. http://127.0.0.1:8000")
    p.add_argument("dir", help="directory written by `polyzoo export` (or its client/)")
    p.add_argument("-n", type=int, default=2, help="number of test samples (default 2)")
    p.add_argument("--keys", default=None, help="key directory (default DIR/keys)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    import numpy as np

    from polyzoo.commands.run_encrypted import print_results, test_samples
    from polyzoo.export import RemoteClient

    if args.n < 1:
        raise ValueError("-n must be at least 1")
    root = Path(args.dir)
    client_dir = root / "client" if (root / "client").is_dir() else root
    key_dir = Path(args.keys) if args.keys else client_dir.parent / "keys"
    with RemoteClient(args.url, client_dir, key_dir) as remote:
        info = remote.info()
        print(f"{args.url}: {info['name']} (circuit {info['circuit_id']}, Concrete ML "
              f"{info['concrete_ml']}); the client computes {info['client_computes']}")
        key_id, uploaded = remote.ensure_keys(progress=True)
        print(f"evaluation keys {'uploaded' if uploaded else 'already on the server'} "
              f"(key id {key_id[:8]}...)")
        raw, x, y = test_samples(remote.client, args.n)
        logits, timings = remote.predict(x)
    same_class = print_results(remote.client.meta, raw, y, logits,
                               [t["seconds"] for t in timings])
    rounds = [t["seconds"] for t in timings]
    server = [t["server_seconds"] for t in timings]
    print(f"round trip {np.median(rounds):.2f} s per input (median of {len(rounds)}), of which "
          f"the server's FHE run {np.median(server):.2f} s")
    return 0 if same_class.all() else 1
