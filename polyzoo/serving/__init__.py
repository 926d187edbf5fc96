"""Encrypted inference over HTTP: the server side of `polyzoo serve`.

    app = create_app("out/model/server", "keys/", Settings(workers=1, queue=4))
    uvicorn.run(app, host="127.0.0.1", port=8000)

The protocol is polyzoo.export._protocol; its client is polyzoo.export.RemoteClient. The
server holds evaluation keys only (KeyStore, on disk, shared by every instance on one key
directory); the secret key stays with the client.
"""
from polyzoo.serving.app import ApiError, Settings, create_app
from polyzoo.serving.keystore import KeyStore, UnknownKey
from polyzoo.serving.process import Running, start

__all__ = ["create_app", "Settings", "ApiError", "KeyStore", "UnknownKey", "start", "Running"]
