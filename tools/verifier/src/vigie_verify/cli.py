"""The auditors' command-line verifier, ``vigie-verify``.

Exit codes: 0 verified, 1 verification failed (the message says what and where), 2 usage,
network or I/O error.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vigie_verify.bundle import register as register_bundle
from vigie_verify.checkpoint import Checkpoint, open_checkpoint
from vigie_verify.entries import canonical_document, served_mismatches
from vigie_verify.errors import LogError, VerificationError, VerifierKeyError
from vigie_verify.export import verify_export, verify_export_file
from vigie_verify.merkle import leaf_hash, verify_consistency, verify_inclusion
from vigie_verify.receipt import register as register_receipt

__all__ = ["FetchError", "LogClient", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2

_USER_AGENT = "vigie-verify/0.1"


class FetchError(Exception):
    """Signals that the log could not be reached or gave an unusable answer."""


class UsageError(Exception):
    """Signals that the command line asks for something inconsistent."""


class StateError(Exception):
    """Signals that the monitor's state file cannot be read or trusted."""


class LogClient:
    """Reads the audit-log API over HTTP with the standard library."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, int] | None = None) -> bytes:
        """Returns the body of a GET request, or raises FetchError."""
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip()
            if exc.code == 409:
                # Because the log answers 409 for an entry that fails its own checks (altered in storage).
                raise LogError(f"GET {url}: the log reports a tampered entry: {detail}") from None
            raise FetchError(f"GET {url}: HTTP {exc.code} {detail}".rstrip()) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise FetchError(f"GET {url}: {reason}") from None

    def get_bytes(self, path: str, params: dict[str, int] | None = None) -> bytes:
        """Returns a response body as it came (a file to keep, e.g. a proof bundle)."""
        return self._get(path, params)

    def get_text(self, path: str, params: dict[str, int] | None = None) -> str:
        """Returns a text/plain response body decoded as UTF-8."""
        body = self._get(path, params)
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise FetchError(f"GET {path}: response is not UTF-8") from None

    def get_json(self, path: str, params: dict[str, int] | None = None) -> dict[str, Any]:
        """Returns a JSON object response body."""
        body = self._get(path, params)
        try:
            value = json.loads(body)
        except ValueError:
            raise FetchError(f"GET {path}: response is not JSON") from None
        if not isinstance(value, dict):
            raise FetchError(f"GET {path}: response is not a JSON object")
        return value


# --- Small parsing helpers -----------------------------------------------------------------------


def _field(obj: dict[str, Any], name: str, kind: type, *, where: str) -> Any:
    """Returns obj[name] if it has the given type, or raises FetchError."""
    value = obj.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FetchError(f"{where}: field {name!r} is missing or not {kind.__name__}")
    return value


def _hex_bytes(value: Any, *, what: str) -> bytes:
    """Returns the bytes of a hex string, or raises FetchError."""
    if not isinstance(value, str):
        raise FetchError(f"{what} is not a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise FetchError(f"{what} is not valid hex") from None


def _hex_list(value: Any, *, what: str) -> list[bytes]:
    """Returns the bytes of a list of hex strings, or raises FetchError."""
    if not isinstance(value, list):
        raise FetchError(f"{what} is not a list")
    return [_hex_bytes(item, what=f"{what}[{position}]") for position, item in enumerate(value)]


def _read_text(path: str) -> str:
    """Returns a file's content as UTF-8 text; I/O errors propagate as OSError."""
    return Path(path).read_text(encoding="utf-8")


def _client(args: argparse.Namespace) -> LogClient:
    """Returns a client for --url with the bearer token and timeout from the arguments."""
    return LogClient(args.url, token=args.token, timeout=args.timeout)


def _fetch_checkpoint(client: LogClient, *, vkey: str, origin: str | None) -> tuple[Checkpoint, str]:
    """Returns the log's current checkpoint, verified, and its note text."""
    note = client.get_text("/v1/checkpoint")
    return open_checkpoint(note, vkey=vkey, origin=origin), note


def _describe(checkpoint: Checkpoint) -> str:
    """Returns a one-line description of a checkpoint."""
    return f"{checkpoint.origin} size {checkpoint.size} root {checkpoint.root_hash.hex()}"


# --- Subcommands ---------------------------------------------------------------------------------


def run_checkpoint(args: argparse.Namespace) -> int:
    """Verifies a signed checkpoint note from the log or from a file."""
    note = _read_text(args.file) if args.file else _client(args).get_text("/v1/checkpoint")
    checkpoint = open_checkpoint(note, vkey=args.vkey, origin=args.origin)
    print(f"OK checkpoint {checkpoint.origin}")
    print(f"size {checkpoint.size}")
    print(f"root {checkpoint.root_hash.hex()}")
    return EXIT_OK


def run_inclusion(args: argparse.Namespace) -> int:
    """Verifies that one entry, rehashed from its canonical bytes, is in the signed tree."""
    client = _client(args)
    index: int = args.index
    checkpoint, _ = _fetch_checkpoint(client, vkey=args.vkey, origin=args.origin)
    try:
        entry = client.get_json(f"/v1/entries/{index}")
    except LogError as exc:
        raise LogError(f"entry {index}: {exc}", index=index) from None
    where = f"entry {index}"
    if _field(entry, "index", int, where=where) != index:
        raise LogError(f"asked for entry {index}, the log returned entry {entry['index']}", index=index)
    try:
        canonical = base64.b64decode(_field(entry, "canonical", str, where=where), validate=True)
    except (binascii.Error, ValueError):
        raise FetchError(f"{where}: 'canonical' is not base64") from None
    try:
        wrong = served_mismatches(canonical_document(canonical), entry)
    except ValueError:
        raise LogError(f"entry {index}: its canonical bytes are not a JSON object", index=index) from None
    if wrong:
        raise LogError(
            f"entry {index}: served {', '.join(wrong)} differ{'s' if len(wrong) == 1 else ''} from its "
            "canonical bytes",
            index=index,
        )
    computed = leaf_hash(canonical)
    if "leaf_hash" in entry and _hex_bytes(entry["leaf_hash"], what=f"{where} leaf_hash") != computed:
        raise LogError(
            f"entry {index}: canonical bytes hash to {computed.hex()}, not its leaf_hash", index=index
        )
    if index >= checkpoint.size:
        raise LogError(
            f"entry {index} is not covered by the latest checkpoint (size {checkpoint.size})", index=index
        )
    answer = client.get_json("/v1/proofs/inclusion", {"index": index, "tree_size": checkpoint.size})
    where = "inclusion proof"
    if _field(answer, "index", int, where=where) != index or _field(
        answer, "tree_size", int, where=where
    ) != (checkpoint.size):
        raise LogError("the log answered an inclusion proof for another index or tree size", index=index)
    proof = _hex_list(answer.get("audit_path"), what="audit_path")
    try:
        verify_inclusion(
            leaf_hash=computed, index=index, tree_size=checkpoint.size, proof=proof, root=checkpoint.root_hash
        )
    except VerificationError as exc:
        raise LogError(f"entry {index}: {exc}", index=index) from None
    print(f"OK entry {index} (leaf hash {computed.hex()}) is included in {_describe(checkpoint)}")
    return EXIT_OK


def run_consistency(args: argparse.Namespace) -> int:
    """Verifies that an earlier tree is a prefix of the log's current signed tree."""
    client = _client(args)
    trusted_first_root: bytes | None = None
    first: int | None = args.first
    if args.old_checkpoint:
        old = open_checkpoint(_read_text(args.old_checkpoint), vkey=args.vkey, origin=args.origin)
        if first is not None and first != old.size:
            raise UsageError(f"--first {first} differs from the old checkpoint's size {old.size}")
        first, trusted_first_root = old.size, old.root_hash
    elif args.first_root:
        trusted_first_root = _hex_bytes(args.first_root, what="--first-root")
    if first is None:
        raise UsageError("give --first or --old-checkpoint")
    checkpoint, _ = _fetch_checkpoint(client, vkey=args.vkey, origin=args.origin)
    if first > checkpoint.size:
        raise LogError(f"the log's checkpoint has size {checkpoint.size}, smaller than {first} (rollback)")
    answer = client.get_json("/v1/proofs/consistency", {"first": first, "second": checkpoint.size})
    where = "consistency proof"
    proof = _hex_list(answer.get("consistency_path"), what="consistency_path")
    served_first_root = _hex_bytes(answer.get("first_root"), what="first_root")
    if (
        "second_root" in answer
        and _hex_bytes(answer["second_root"], what="second_root") != checkpoint.root_hash
    ):
        raise LogError(f"{where}: the log's second_root differs from its signed checkpoint")
    if trusted_first_root is not None and served_first_root != trusted_first_root:
        raise LogError(
            f"the log says the root at size {first} is {served_first_root.hex()}, "
            f"you hold {trusted_first_root.hex()} (fork)"
        )
    verify_consistency(
        first=first,
        second=checkpoint.size,
        first_root=trusted_first_root or served_first_root,
        second_root=checkpoint.root_hash,
        proof=proof,
    )
    print(f"OK size {first} (root {(trusted_first_root or served_first_root).hex()}) is a prefix of")
    print(f"   {_describe(checkpoint)}")
    if trusted_first_root is None:
        print("note: the old root came from the log itself; compare it with one you hold")
    return EXIT_OK


def run_log(args: argparse.Namespace) -> int:
    """Verifies a whole NDJSON export, offline, against a signed checkpoint file."""
    checkpoint = open_checkpoint(_read_text(args.checkpoint), vkey=args.vkey, origin=args.origin)
    if os.path.isfile(args.export):
        report = verify_export_file(args.export, checkpoint=checkpoint, workers=args.workers)
    else:  # A pipe or a device: read as a stream of lines.
        with open(args.export, "rb") as lines:
            report = verify_export(lines, checkpoint=checkpoint, workers=args.workers)
    print(f"OK {report.checked} entries rebuild {_describe(checkpoint)}")
    if report.beyond_checkpoint:
        print(f"note: {report.beyond_checkpoint} later entries are not covered by this checkpoint")
    return EXIT_OK


def _load_state(path: Path, *, vkey: str) -> Checkpoint | None:
    """Returns the last trusted checkpoint stored at path, re-verified, or None if there is none."""
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        return open_checkpoint(state["checkpoint"], vkey=vkey)
    except (OSError, ValueError, KeyError, TypeError, VerificationError) as exc:
        raise StateError(f"state file {path} is unreadable or not signed by this key: {exc}") from None


def _save_state(path: Path, *, checkpoint: Checkpoint, note: str) -> None:
    """Stores a trusted checkpoint at path, atomically."""
    state = {
        "origin": checkpoint.origin,
        "size": checkpoint.size,
        "root_hash": checkpoint.root_hash.hex(),
        "checkpoint": note,
        "verified_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    # Because a crash mid-write must never leave a truncated state that would reset trust.
    os.replace(temporary, path)


def monitor_once(client: LogClient, *, vkey: str, state_path: Path, origin: str | None = None) -> str:
    """Advances the trusted checkpoint in state_path to the log's current one, and describes the step.

    Raises LogError on a rollback or a fork; the state file is then left untouched.
    """
    old = _load_state(state_path, vkey=vkey)
    new, note = _fetch_checkpoint(client, vkey=vkey, origin=old.origin if old else origin)
    if old is None:
        _save_state(state_path, checkpoint=new, note=note)
        return f"trusting first checkpoint {_describe(new)}"
    if new.size < old.size:
        raise LogError(f"rollback: the log now shows size {new.size}, it already signed size {old.size}")
    if new.size == old.size:
        if new.root_hash != old.root_hash:
            raise LogError(
                f"fork at size {new.size}: root {new.root_hash.hex()} now, {old.root_hash.hex()} before"
            )
        return f"unchanged at {_describe(new)}"
    proof: list[bytes] = []
    # Because every tree extends the empty one, which has no proof endpoint answer to ask for.
    if old.size:
        answer = client.get_json("/v1/proofs/consistency", {"first": old.size, "second": new.size})
        proof = _hex_list(answer.get("consistency_path"), what="consistency_path")
    try:
        verify_consistency(
            first=old.size, second=new.size, first_root=old.root_hash, second_root=new.root_hash, proof=proof
        )
    except VerificationError as exc:
        raise LogError(
            f"fork: size {new.size} is not an extension of trusted size {old.size}: {exc}"
        ) from None
    _save_state(state_path, checkpoint=new, note=note)
    return f"advanced from size {old.size} to {_describe(new)}"


def run_monitor(args: argparse.Namespace) -> int:
    """Checks, once or in a loop, that the log only ever grows from the last trusted checkpoint."""
    client = _client(args)
    state_path = Path(args.state)
    run = 0
    while True:
        run += 1
        message = monitor_once(client, vkey=args.vkey, state_path=state_path, origin=args.origin)
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        print(f"{stamp} OK {message}", flush=True)
        if args.count and run >= args.count:
            return EXIT_OK
        time.sleep(args.interval)


# --- Argument parsing ----------------------------------------------------------------------------


def _non_negative(text: str) -> int:
    """Returns text as a non-negative integer for argparse."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser of ``vigie-verify``."""
    parser = argparse.ArgumentParser(
        prog="vigie-verify",
        description="Verify Vigie's audit log: checkpoints, inclusion, consistency, full exports.",
        epilog="Exit codes: 0 verified, 1 verification failed, 2 usage, network or I/O error.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        sub.add_argument("--vkey", required=True, help="the log's verifier key, <name>+<id>+<base64 key>")
        sub.add_argument("--origin", help="refuse checkpoints whose origin line differs")
        return sub

    def add_network(sub: argparse.ArgumentParser, *, required: bool = True) -> None:
        sub.add_argument("--url", required=required, help="base URL of the audit-log service")
        sub.add_argument(
            "--token", default=os.environ.get("VIGIE_TOKEN"), help="bearer token (or VIGIE_TOKEN)"
        )
        sub.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request")

    sub = add("checkpoint", run_checkpoint, "verify the signed checkpoint, print its size and root")
    add_network(sub, required=False)
    sub.add_argument("--file", help="read the checkpoint note from a file instead of --url")

    sub = add("inclusion", run_inclusion, "verify that one entry is in the log's signed tree")
    add_network(sub)
    sub.add_argument("--index", type=_non_negative, required=True)

    sub = add("consistency", run_consistency, "verify that an earlier tree is a prefix of the current one")
    add_network(sub)
    sub.add_argument("--first", type=_non_negative, help="size of the earlier tree")
    sub.add_argument("--first-root", help="hex root you hold for the earlier tree")
    sub.add_argument("--old-checkpoint", help="signed checkpoint file you hold for the earlier tree")

    sub = add("log", run_log, "verify a full NDJSON export offline against a checkpoint file")
    sub.add_argument("--export", required=True, help="NDJSON export (GET /v1/export?format=ndjson)")
    sub.add_argument("--checkpoint", required=True, help="signed checkpoint note file")
    sub.add_argument(
        "--workers", type=_non_negative, default=None, help="processes checking lines (default: one per core)"
    )

    sub = add("monitor", run_monitor, "refuse rollbacks and forks against the last trusted checkpoint")
    add_network(sub)
    sub.add_argument("--state", required=True, help="JSON file holding the last trusted checkpoint")
    sub.add_argument("--interval", type=float, default=60.0, help="seconds between checks")
    sub.add_argument("--count", type=_non_negative, default=1, help="number of checks; 0 runs forever")

    register_receipt(commands)
    register_bundle(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``vigie-verify`` and returns its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    if args.command == "checkpoint" and bool(args.url) == bool(args.file):
        parser.print_usage(sys.stderr)
        print("vigie-verify checkpoint: give exactly one of --url or --file", file=sys.stderr)
        return EXIT_ERROR
    try:
        code: int = args.handler(args)
        return code
    except VerificationError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (FetchError, StateError, UsageError, VerifierKeyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
