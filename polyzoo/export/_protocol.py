"""The HTTP protocol of `polyzoo serve`, version 1: shared by the server and RemoteClient.

    GET  /v1/health           -> {"status": "ok", "busy": n, "capacity": n, "cached_keys": n}
    GET  /v1/info             -> model name, circuit id, input shape, what the client computes
                                 in the clear, versions, limits
    POST /v1/keys             body: evaluation keys (application/octet-stream, compressed or
                              not), header X-Polyzoo-Circuit-Id: the circuit they were made for
                              -> 201 {"key_id": ..., "bytes": ..., "circuit_id": ...}
    GET  /v1/keys/{key_id}    -> 200 the same record, or 404 (a client checks its stored id)
    POST /v1/predict          body: one encrypted sample (application/octet-stream), header
                              X-Polyzoo-Key-Id -> 200 the encrypted output (octet-stream),
                              header X-Polyzoo-Seconds: server seconds of the FHE run

Bodies are raw bytes, not base64 in JSON: evaluation keys are gigabytes (0.41 GiB compressed,
3.05 GiB uncompressed for the zoo's micro ViT). Every error is JSON
{"error": CODE, "detail": MESSAGE} with a 4xx or 5xx status; a full queue answers 503 with
Retry-After.
"""
from __future__ import annotations

import re

API = "v1"
OCTET = "application/octet-stream"
CIRCUIT_HEADER = "X-Polyzoo-Circuit-Id"
KEY_HEADER = "X-Polyzoo-Key-Id"
SECONDS_HEADER = "X-Polyzoo-Seconds"

# Key ids are secrets.token_urlsafe(24): 192 random bits, so not guessable, and a fixed
# alphabet, so an id is safe to use as a directory name.
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")


def client_computes(client_inputs: dict | None) -> str:
    """What the client computes in the clear before encrypting (deployment meta
    `client_inputs`), in words, for /v1/info and the docs."""
    if client_inputs is None:
        return "nothing: the raw input is quantised and encrypted as it is"
    if "max_len" not in client_inputs:
        stem = client_inputs.get("stem")
        return ((f"the convolutional stem and patch embedding of zoo entry "
                 f"{client_inputs['zoo']!r} (a 3x3 convolution to {stem} channels and a ReLU, "
                 "then each patch times the embedding matrix plus its position embedding: a "
                 "small nonlinear feature map" if stem else
                 f"the patch embedding of zoo entry {client_inputs['zoo']!r} (each image patch "
                 "times the embedding matrix, plus its position embedding: one linear map")
                + ", whose weights the client holds); the server sees the encrypted "
                "embeddings only")
    return (f"tokenisation (at most {client_inputs['max_len']} tokens) and the embedding "
            f"layer of zoo entry {client_inputs['zoo']!r} (token + position + type embeddings "
            "and their LayerNorm); the server sees the encrypted embeddings only")
