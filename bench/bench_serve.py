"""Encrypted inference over HTTP against in-process, on the zoo's micro ViT, in one run.

    .venv/bin/python bench/bench_serve.py [--rounds 3] [--requests 2] [--out DIR]

Compiles 'vit-micro-mnist-qat' as `polyzoo export` does, generates one key set, and measures:
  in-process   Server.run_one on ciphertexts from Client.encrypt_one (what `polyzoo
               run-encrypted` does), keys loaded once;
  http         RemoteClient -> `polyzoo serve` (uvicorn, a subprocess on 127.0.0.1, one FHE
               worker): the round trip of one image, encryption and decryption included;
the two taking turns, one image each per round, after one warm-up image each (medians over
the rounds; the ratio http / in-process is the HTTP overhead). Then 1, 2 and 4 concurrent
clients each send --requests images: p50/p95 round trip and requests per minute. The
concurrent clients share the one key set and send ciphertexts made beforehand (each key set
holds gigabytes in memory, on both sides; tests/serving/test_serve.py runs four clients with their own
keys on the tiny circuit). Every encrypted output is compared with the simulation bit for bit.
Writes bench/results/serve.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import _harness

MICRO = "vit-micro-mnist-qat"
CONCURRENCY = (1, 2, 4)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3,
                        help="images per path, in turns, after one warm-up each (default 3)")
    parser.add_argument("--requests", type=int, default=2,
                        help="images each concurrent client sends (default 2)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--out", default=None, help="work directory (default: a temporary one)")
    args = parser.parse_args(argv)

    from polyzoo import serving
    from polyzoo.export import (RemoteClient, Server, compile_onnx, save_deployment,
                                to_onnx)
    from polyzoo.export import default_knobs, resolve

    work = Path(args.out or tempfile.mkdtemp(prefix="bench-serve-"))
    source = resolve(MICRO)
    n_images = 1 + args.rounds + max(CONCURRENCY) * args.requests
    x = np.asarray(source.test_x[:n_images], np.float32)
    # As `polyzoo export` compiles it; the simulated outputs every encrypted one must equal.
    circuit = compile_onnx(to_onnx(source.export_fn, source.calibration[:1]),
                           source.calibration, default_knobs(source))
    reference = np.asarray(circuit.predict(x, fhe="simulate"))
    deployment = save_deployment(circuit, work / "model",
                                 meta={"name": MICRO, "dataset": source.dataset})
    running = serving.start(deployment, work / "server_keys", "--queue", "8",
                            port=args.port, log=work / "serve.log")
    url = running.url
    try:
        remote = RemoteClient(url, deployment / "client", work / "keys")
        client = remote.client  # one key set in memory, for both paths
        start = time.perf_counter()
        client.keygen()
        keygen_s = time.perf_counter() - start
        start = time.perf_counter()
        remote.ensure_keys()
        upload_s = time.perf_counter() - start
        server = Server(deployment / "server")
        serialized = client.evaluation_keys()
        key_gib = len(serialized) / 2 ** 30
        start = time.perf_counter()
        keys = server.load_keys(serialized)
        load_s = time.perf_counter() - start
        del serialized
        equal = []

        def in_process(i):  # (output, seconds): encrypt, run and decrypt, as HTTP's timing
            start = time.perf_counter()
            out = client.decrypt_ciphertexts([server.run_one(client.encrypt_one(x[i]), keys)])
            equal.append(bool(np.array_equal(out, reference[[i]])))
            return out, time.perf_counter() - start

        def over_http(i):
            out, timing = remote.predict(x[[i]])
            equal.append(bool(np.array_equal(out, reference[[i]])))
            return out, timing[0]["seconds"]

        calls = {"in_process_s": in_process, "http_s": over_http}
        timed = _harness.in_turns(calls, 1 + args.rounds, self_timed=True,
                                  log=lambda line: print(line, flush=True))
        warm = {k: t.seconds[0] for k, t in timed.items()}  # image 0, each path's first
        turns = {k: t.seconds[1:] for k, t in timed.items()}
        concurrent = {}
        first = 1 + args.rounds
        key_id = remote.ensure_keys()[0]
        for c in CONCURRENCY:
            concurrent[str(c)] = _concurrent(url, client, key_id, x, reference, c,
                                             args.requests, first, equal)
            print(f"  {c} client(s): {json.dumps(concurrent[str(c)])}", flush=True)
        remote.close()
    finally:
        running.stop()

    medians = {k: float(np.median(v)) for k, v in turns.items()}
    figures = {
        "model": MICRO,
        "pbs": int(circuit.fhe_circuit.statistics["programmable_bootstrap_count"]),
        "evaluation_key_gib": round(key_gib, 2),
        "keygen_s": round(keygen_s, 1), "in_process_key_load_s": round(load_s, 1),
        "http_key_upload_s": round(upload_s, 1),
        "warm_up_s": {k: round(v, 1) for k, v in warm.items()},
        "runs_s": {k: [round(s, 2) for s in v] for k, v in turns.items()},
        "median_s": {k: round(v, 2) for k, v in medians.items()},
        "http_over_in_process": round(medians["http_s"] / medians["in_process_s"], 3),
        "concurrent_clients": concurrent,
        "all_equal_simulation": all(equal), "outputs_compared": len(equal),
    }
    print(f"HTTP round trip / in-process: {figures['http_over_in_process']:.3f}x "
          f"({medians['http_s']:.1f} s against {medians['in_process_s']:.1f} s, medians of "
          f"{args.rounds}); every output equals the simulation: {all(equal)}")
    print(f"wrote {_harness.write('serve', figures)}")
    return 0 if all(equal) else 1


def _concurrent(url, client, key_id, x, reference, clients, requests, first, equal):
    """`clients` threads, each sending `requests` encrypted images back to back: the
    ciphertexts are made beforehand and decrypted afterwards by the one key set, so the
    round trip is the server's queue, FHE run and transfer."""
    import httpx

    from polyzoo.export import protocol as proto

    jobs = [[first + k * requests + j for j in range(requests)] for k in range(clients)]
    bodies = {i: client.encrypt_one(x[i]) for job in jobs for i in job}
    rounds, outputs, lock = [], {}, threading.Lock()
    barrier = threading.Barrier(clients)

    def one(job):
        with httpx.Client(base_url=url, timeout=3600) as http:
            barrier.wait()
            for i in job:
                start = time.perf_counter()
                answer = http.post(f"/{proto.API}/predict", content=bodies[i], headers={
                    "Content-Type": proto.OCTET, proto.KEY_HEADER: key_id})
                answer.raise_for_status()
                with lock:
                    rounds.append(time.perf_counter() - start)
                    outputs[i] = answer.content
    start = time.perf_counter()
    threads = [threading.Thread(target=one, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    for i, ct in outputs.items():
        equal.append(bool(np.array_equal(client.decrypt_ciphertexts([ct]), reference[[i]])))
    return {"p50_s": round(float(np.percentile(rounds, 50)), 1),
            "p95_s": round(float(np.percentile(rounds, 95)), 1),
            "requests_per_minute": round(60 * len(rounds) / wall, 2),
            "requests": len(rounds), "wall_s": round(wall, 1)}


if __name__ == "__main__":
    sys.exit(main())
