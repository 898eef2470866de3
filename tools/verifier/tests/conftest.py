"""Fixtures for the verifier's tests: a fixed signing key and a fake audit-log HTTP service."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from vigie_verify.checkpoint import Checkpoint, sign_checkpoint, verifier_key
from vigie_verify.merkle import (
    InMemoryNodeStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
)

ORIGIN = "audit.vigie.example/log/test-v1"


class FakeLog:
    """An audit log kept in memory that signs checkpoints like the real service."""

    def __init__(self, *, private_key: Ed25519PrivateKey, origin: str = ORIGIN) -> None:
        self.private_key = private_key
        self.origin = origin
        self.entries: list[bytes] = []
        self.store = InMemoryNodeStore()
        self.published_size = 0

    @property
    def vkey(self) -> str:
        return verifier_key(self.private_key.public_key(), self.origin)

    def append(self, canonicals: list[bytes]) -> None:
        """Appends entries and stores the complete subtrees they create."""
        self.entries.extend(canonicals)
        self.store.append([leaf_hash(c) for c in canonicals])

    def publish(self, size: int | None = None) -> str:
        """Makes the checkpoint at size (default: all entries) the one served, and returns it."""
        self.published_size = len(self.entries) if size is None else size
        return self.checkpoint_note()

    def checkpoint_note(self) -> str:
        checkpoint = Checkpoint(
            origin=self.origin,
            size=self.published_size,
            root_hash=root_hash(self.published_size, self.store.get_node),
        )
        return sign_checkpoint(checkpoint, private_key=self.private_key, key_name=self.origin)

    def entry_json(self, index: int) -> dict[str, object]:
        canonical = self.entries[index]
        return {
            "index": index,
            "leaf_hash": leaf_hash(canonical).hex(),
            "canonical": base64.b64encode(canonical).decode(),
        }

    def export_ndjson(self) -> str:
        return "".join(json.dumps(self.entry_json(i)) + "\n" for i in range(len(self.entries)))


def make_entries(count: int, *, tag: str = "a") -> list[bytes]:
    return [
        json.dumps({"v": 1, "event_id": f"{tag}-{i}", "n": i}, sort_keys=True).encode() for i in range(count)
    ]


class _Handler(BaseHTTPRequestHandler):
    server: _FakeLogServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        log = self.server.log
        self.server.requests.append((self.path, self.headers.get("Authorization")))
        url = urllib.parse.urlsplit(self.path)
        query = {k: int(v[0]) for k, v in urllib.parse.parse_qs(url.query).items() if v[0].isdigit()}
        if url.path == "/v1/checkpoint":
            self._send(200, log.checkpoint_note(), "text/plain; charset=utf-8")
        elif url.path == "/v1/public-key":
            self._send(200, json.dumps({"origin": log.origin, "key_name": log.origin, "vkey": log.vkey}))
        elif url.path.startswith("/v1/entries/"):
            index = int(url.path.rsplit("/", 1)[1])
            if index >= len(log.entries):
                self._send(404, json.dumps({"title": "no such entry"}))
            else:
                self._send(200, json.dumps(log.entry_json(index)))
        elif url.path == "/v1/proofs/inclusion":
            index, size = query["index"], query["tree_size"]
            path = inclusion_proof(index, size, log.store.get_node)
            self._send(
                200,
                json.dumps(
                    {
                        "index": index,
                        "tree_size": size,
                        "leaf_hash": log.store.get_node(0, index).hex(),
                        "audit_path": [p.hex() for p in path],
                        "root_hash": root_hash(size, log.store.get_node).hex(),
                    }
                ),
            )
        elif url.path == "/v1/proofs/consistency":
            first, second = query["first"], query["second"]
            if second > len(log.entries) or first > second:
                self._send(400, json.dumps({"title": "bad range"}))
                return
            path = consistency_proof(first, second, log.store.get_node)
            self._send(
                200,
                json.dumps(
                    {
                        "first": first,
                        "second": second,
                        "consistency_path": [p.hex() for p in path],
                        "first_root": root_hash(first, log.store.get_node).hex(),
                        "second_root": root_hash(second, log.store.get_node).hex(),
                    }
                ),
            )
        elif url.path == "/v1/export":
            self._send(200, log.export_ndjson(), "application/x-ndjson")
        else:
            self._send(404, json.dumps({"title": "not found"}))


class _FakeLogServer(ThreadingHTTPServer):
    log: FakeLog
    requests: list[tuple[str, str | None]]


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture
def fake_log(signing_key: Ed25519PrivateKey) -> FakeLog:
    log = FakeLog(private_key=signing_key)
    log.append(make_entries(10))
    log.publish()
    return log


@pytest.fixture
def log_server(fake_log: FakeLog) -> Iterator[_FakeLogServer]:
    """Serves fake_log on a free port of 127.0.0.1; tests may swap ``server.log``."""
    server = _FakeLogServer(("127.0.0.1", 0), _Handler)
    server.log = fake_log
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def server_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


@pytest.fixture
def log_url(log_server: _FakeLogServer) -> str:
    return server_url(log_server)


@pytest.fixture
def new_log(signing_key: Ed25519PrivateKey):
    """Returns a factory of FakeLogs signed by the test key, filled with tagged entries."""

    def build(count: int, *, tag: str = "a", publish: bool = True) -> FakeLog:
        log = FakeLog(private_key=signing_key)
        log.append(make_entries(count, tag=tag))
        if publish:
            log.publish()
        return log

    return build
