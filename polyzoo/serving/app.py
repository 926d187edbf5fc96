"""The FastAPI application of `polyzoo serve`: routes of polyzoo.export._protocol over one
compiled circuit and one key store.

FHE runs in a bounded thread pool, off the event loop (Concrete releases the GIL while it
computes); when `workers + queue` requests are already in flight a new one is answered 503
with Retry-After instead of piling up. Bodies are streamed and cut off at their limit. Each
request is logged with its key id and seconds, never with a ciphertext.
"""
# No `from __future__ import annotations`: FastAPI reads the route annotations (Request) at
# definition time, and they name classes imported inside create_app.
import asyncio
import dataclasses
import logging
import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from polyzoo import __version__
from polyzoo.export import _protocol as proto
from polyzoo.export._deploy import DeploymentError, Server, concrete_version
from polyzoo.serving.keystore import KeyStore, UnknownKey

log = logging.getLogger("polyzoo.serve")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Limits of one server process."""
    workers: int = 1                    # FHE runs at once (each uses every core it can)
    queue: int = 4                      # requests waiting beyond those; more get 503
    cache_keys: int = 4                 # loaded key sets kept in memory (LRU)
    max_key_bytes: int = 8 << 30        # largest key upload (micro ViT: 3.05 GiB uncompressed)
    max_request_bytes: int = 256 << 20  # largest encrypted input

    def __post_init__(self):
        if self.workers < 1 or self.queue < 0:
            raise ValueError(f"workers {self.workers}, queue {self.queue}: use workers >= 1 "
                             "and queue >= 0")


class ApiError(Exception):
    """An error answered as JSON {"error": code, "detail": detail}."""

    def __init__(self, status: int, code: str, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def create_app(server_dir: str | Path, key_dir: str | Path, settings: Settings = Settings()):
    """The ASGI application serving the circuit in server_dir with keys under key_dir."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect

    server = Server(server_dir)
    meta = server.meta
    store = KeyStore(key_dir, Server.load_keys, settings.cache_keys)
    pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="fhe")
    capacity = settings.workers + settings.queue
    state = {"busy": 0, "recent": []}  # touched on the event loop thread only

    app = FastAPI(title="polyzoo serve", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.add_middleware(_AccessLog)

    @app.exception_handler(ApiError)
    async def _api_error(request, err: ApiError):
        return JSONResponse({"error": err.code, "detail": err.detail}, err.status,
                            headers=err.headers)

    @app.exception_handler(HTTPException)
    async def _http_error(request, err: HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http")
        return JSONResponse({"error": code, "detail": f"{request.method} {request.url.path}: "
                             f"{err.detail}; the routes are under /{proto.API}/ (see "
                             f"/{proto.API}/info)"}, err.status_code)

    @app.get(f"/{proto.API}/health")
    async def health():
        return {"status": "ok", "busy": state["busy"], "capacity": capacity,
                "cached_keys": store.cached}

    @app.get(f"/{proto.API}/info")
    async def info():
        return {"api": proto.API, "name": meta.get("name"), "dataset": meta.get("dataset"),
                "circuit_id": meta["circuit_id"], "input_shape": meta.get("input_shape"),
                "input_range": meta.get("input_range"),
                "client_computes": proto.client_computes(meta.get("client_inputs")),
                "knobs": meta.get("knobs"), "concrete_ml": concrete_version(),
                "polyzoo": __version__, "limits": dataclasses.asdict(settings)}

    @app.post(f"/{proto.API}/keys", status_code=201)
    async def upload_keys(request: Request):
        _octet(request)
        circuit_id = request.headers.get(proto.CIRCUIT_HEADER)
        if circuit_id is None:
            raise ApiError(400, "missing_circuit_id", f"send the {proto.CIRCUIT_HEADER} header: "
                           "the id of the circuit these keys were generated for")
        if circuit_id != meta["circuit_id"]:
            raise ApiError(409, "wrong_circuit", f"these keys are for circuit {circuit_id}; "
                           f"this server runs circuit {meta['circuit_id']} ({meta.get('name')}): "
                           "generate keys with this server's client directory")
        _declared_size(request, settings.max_key_bytes, "evaluation keys")
        upload = store.begin()
        try:
            async for chunk in request.stream():
                upload.write(chunk)
                _check_size(upload.bytes, settings.max_key_bytes, "evaluation keys")
            record = await asyncio.to_thread(store.commit, upload, circuit_id)
        except ClientDisconnect:
            upload.abort()
            log.warning("key upload abandoned by the client after %d bytes", upload.bytes)
            raise ApiError(400, "disconnected", "the client disconnected mid-upload") from None
        except DeploymentError as err:  # commit aborted the upload
            raise ApiError(400, "bad_keys", f"{err}: upload the bytes of "
                           "Client.evaluation_keys()") from None
        except BaseException:
            upload.abort()
            raise
        request.state.key_id = record["key_id"]
        return record

    @app.get(f"/{proto.API}/keys/{{key_id}}")
    async def key_record(key_id: str, request: Request):
        request.state.key_id = key_id
        return _record(key_id)

    @app.post(f"/{proto.API}/predict")
    async def predict(request: Request):
        _octet(request)
        key_id = request.headers.get(proto.KEY_HEADER)
        if key_id is None:
            raise ApiError(400, "missing_key_id", f"send the {proto.KEY_HEADER} header: the id "
                           f"POST /{proto.API}/keys answered")
        request.state.key_id = key_id
        _record(key_id)
        if state["busy"] >= capacity:
            raise ApiError(503, "busy", f"{state['busy']} requests in flight, the limit of this "
                           "server: retry after the seconds in Retry-After",
                           headers={"Retry-After": str(_retry_after(state, settings))})
        state["busy"] += 1
        try:
            _declared_size(request, settings.max_request_bytes, "encrypted input")
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                _check_size(len(body), settings.max_request_bytes, "encrypted input")
            loop = asyncio.get_running_loop()
            output, seconds = await loop.run_in_executor(pool, _run, server, store, key_id,
                                                         bytes(body))
        except ClientDisconnect:
            raise ApiError(400, "disconnected", "the client disconnected mid-request") from None
        except DeploymentError as err:
            raise ApiError(400, "bad_ciphertext", f"{err}: send the bytes of "
                           "Client.encrypt_one(x), encrypted under the keys of this key id") from None
        finally:
            state["busy"] -= 1
        state["recent"] = (state["recent"] + [seconds])[-20:]
        return Response(output, media_type=proto.OCTET, headers={
            proto.SECONDS_HEADER: f"{seconds:.6f}", proto.CIRCUIT_HEADER: meta["circuit_id"],
            proto.KEY_HEADER: key_id})

    def _record(key_id: str) -> dict:
        if not proto.KEY_ID.match(key_id):
            raise ApiError(404, "unknown_key", f"{key_id[:40]!r} is not a key id: use the id "
                           f"POST /{proto.API}/keys answered")
        try:
            record = store.meta(key_id)
        except UnknownKey:
            raise ApiError(404, "unknown_key", f"no key set {key_id} on this server: upload "
                           f"your evaluation keys with POST /{proto.API}/keys") from None
        if record["circuit_id"] != meta["circuit_id"]:
            raise ApiError(409, "wrong_circuit", f"key set {key_id} is for circuit "
                           f"{record['circuit_id']}, this server runs {meta['circuit_id']}")
        return record

    app.state.store, app.state.settings, app.state.meta = store, settings, meta
    return app


def _run(server: Server, store: KeyStore, key_id: str, ciphertext: bytes):
    keys = store.get(key_id)
    start = time.perf_counter()
    output = server.run_one(ciphertext, keys)
    return output, time.perf_counter() - start


def _octet(request) -> None:
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != proto.OCTET:
        raise ApiError(415, "wrong_content_type", f"Content-Type {kind or '(none)'!r}: send the "
                       f"raw bytes as {proto.OCTET}")


def _declared_size(request, limit: int, what: str) -> None:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit():
        _check_size(int(length), limit, what)


def _check_size(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise ApiError(413, "too_large", f"{what} of {size} bytes or more exceed this server's "
                       f"limit of {limit} bytes (polyzoo serve --max-key-size / "
                       "--max-request-size)")


def _retry_after(state: dict, settings: Settings) -> int:
    """Seconds until a slot is likely free: the median recent run times the queue ahead."""
    typical = statistics.median(state["recent"]) if state["recent"] else 1.0
    return max(1, math.ceil(typical * (settings.queue + 1) / settings.workers))


class _AccessLog:
    """Logs `METHOD path status key=... seconds` per request (pure ASGI: bodies stream)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, send_status)
        finally:
            key = scope.get("state", {}).get("key_id", "-")
            log.info("%s %s %d key=%s %.3fs", scope["method"], scope["path"], status[0],
                     key[:40], time.perf_counter() - start)
