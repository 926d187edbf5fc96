"""`polyzoo serve DIR`: serve an exported circuit's encrypted inference over HTTP."""
from __future__ import annotations

import re

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def size(text: str) -> int:
    """'512M', '8G', '1048576' -> bytes (powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", text, re.I)
    if not match:
        raise ValueError(f"size {text!r}: write a number of bytes, optionally with K, M or G "
                         "(e.g. 512M, 8G)")
    return int(match[1]) * _UNITS[match[2].upper()]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve", help="serve encrypted inference over HTTP (keys kept on disk)",
        description="Serve DIR/server (or DIR itself), written by `polyzoo export`, over HTTP: "
                    "clients upload evaluation keys once (POST /v1/keys), then send encrypted "
                    "inputs (POST /v1/predict); `polyzoo client` is such a client. Keys are "
                    "stored under --keys and survive restarts; several instances may share "
                    "one key directory.")
    p.add_argument("dir", help="directory written by `polyzoo export` (or its server/)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8000, help="default 8000")
    p.add_argument("--keys", default=None,
                   help="key directory, may be shared by instances (default DIR/server_keys)")
    p.add_argument("--workers", type=int, default=1,
                   help="encrypted runs at once (default 1: one run uses every core)")
    p.add_argument("--queue", type=int, default=4,
                   help="requests waiting beyond those; more are answered 503 (default 4)")
    p.add_argument("--cache-keys", type=int, default=4,
                   help="loaded key sets kept in memory, least recently used out (default 4; "
                        "each holds about the size of its upload)")
    p.add_argument("--max-key-size", type=size, default="8G",
                   help="largest evaluation key upload (default 8G)")
    p.add_argument("--max-request-size", type=size, default="256M",
                   help="largest encrypted input (default 256M)")
    p.set_defaults(func=run)


def run(args) -> int:
    import logging
    from pathlib import Path

    import uvicorn

    from polyzoo.serving import Settings, create_app

    root = Path(args.dir)
    server_dir = root / "server" if (root / "server").is_dir() else root
    key_dir = Path(args.keys) if args.keys else server_dir.parent / "server_keys"
    settings = Settings(workers=args.workers, queue=args.queue, cache_keys=args.cache_keys,
                        max_key_bytes=args.max_key_size, max_request_bytes=args.max_request_size)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app(server_dir, key_dir, settings)
    meta = app.state.meta
    print(f"serving {meta.get('name')} (circuit {meta['circuit_id']}) on "
          f"http://{args.host}:{args.port}/v1/ ; keys in {key_dir}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning")
    return 0
