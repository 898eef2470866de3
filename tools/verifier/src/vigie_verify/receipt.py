"""``vigie-verify receipt``: one campaign-gate receipt, verified offline down to a signed checkpoint.

campaign-gate does not put every receipt of a check in the audit log. It cuts a check's receipts into
chunks (at most 5,000 each, in check order), builds an RFC 9162 tree over each chunk, and publishes
one `receipt_chunk_committed` event per chunk. That event's id is the SHA-256 of the chunk's header
(check, campaign, rule set, chunk number, first index, count, root, time), so the id the audit log
keeps in the clear in its entry commits to the chunk root, even though the entry's event itself is
sealed under a key the auditor does not hold.

A receipt file (``vigie-verify receipt --fetch …`` writes one) holds:

- ``receipt``: what ``GET /v1/checks/{check_id}/receipts/{contact_id}`` on campaign-gate serves: the
  receipt, its canonical bytes (base64), its index in its chunk, the chunk (number, first index,
  count, root, event id) and the receipt's inclusion proof into the chunk root (hex);
- ``audit_entry``: the audit-log entry of the chunk's event (``GET /v1/entries?event_id=…``);
- ``entry_proof``: that entry's inclusion proof (``GET /v1/proofs/inclusion``);
- ``checkpoint``: the signed checkpoint note the proof leads to (``GET /v1/checkpoint``).

Verification, each step failing loudly: the checkpoint's signature by the pinned key; the receipt's
fields equal its canonical bytes; those bytes hash to a leaf that the proof leads to the chunk root;
the chunk header built from the receipt and the chunk hashes to the event id written in the audit
entry's canonical bytes; that entry's leaf is included in the signed tree.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vigie_verify.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint_body
from vigie_verify.errors import ProofError, VerificationError
from vigie_verify.merkle import leaf_hash, verify_inclusion

__all__ = [
    "CHUNK_EVENT_TYPE",
    "FORMAT",
    "RECEIPT_FIELDS",
    "ProvenReceipt",
    "ReceiptError",
    "ReceiptVerification",
    "chunk_event_id",
    "check_receipt",
    "chunk_header_bytes",
    "register",
    "verify_receipt_file",
]

#: The CloudEvents type of campaign-gate's chunk event (its topic is `campaigns.events`).
CHUNK_EVENT_TYPE = "vigie.campaigns.receipt_chunk_committed.v1"
#: The `format` of a receipt file.
FORMAT = "vigie-receipt-proof/v1"
#: The fields of a receipt's canonical bytes (a JSON object with exactly these keys).
RECEIPT_FIELDS = (
    "at",
    "campaign_id",
    "campaign_version",
    "check_id",
    "contact_id",
    "decision",
    "evidence",
    "reasons",
    "ruleset_version",
)
#: The fields of a chunk header, the bytes a chunk event's id is the SHA-256 of.
CHUNK_FIELDS = (
    "at",
    "campaign_id",
    "campaign_version",
    "check_id",
    "chunk",
    "count",
    "first_index",
    "root",
    "ruleset_version",
)
_CHUNK_ID_DOMAIN = b"vigie:receipt-chunk:v1\n"


class ReceiptError(VerificationError):
    """Signals that a receipt, its chunk or its audit entry does not verify (or the file is malformed)."""


def chunk_header_bytes(header: Mapping[str, Any]) -> bytes:
    """Returns the canonical bytes of a chunk header: sorted-key JSON, no spaces, ASCII.

    ``header`` must hold exactly CHUNK_FIELDS: `root` as lowercase hex, `at` as the ISO text the
    receipts carry, integers for `campaign_version`, `chunk`, `first_index` and `count`.
    """
    if set(header) != set(CHUNK_FIELDS):
        raise ReceiptError(f"a chunk header has exactly the fields {', '.join(CHUNK_FIELDS)}")
    return json.dumps(dict(header), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def chunk_event_id(header: Mapping[str, Any]) -> str:
    """Returns the event id of a chunk event: SHA-256 (hex) of a domain tag and the header's bytes."""
    return hashlib.sha256(_CHUNK_ID_DOMAIN + chunk_header_bytes(header)).hexdigest()


# --- Reading the file ----------------------------------------------------------------------------


def _get(obj: Any, name: str, kind: type | tuple[type, ...], *, where: str) -> Any:
    if not isinstance(obj, dict):
        raise ReceiptError(f"{where} is not a JSON object")
    value = obj.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ReceiptError(f"{where}: field {name!r} is missing or malformed")
    return value


def _b64(value: str, *, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ReceiptError(f"{what} is not base64") from None


def _hex(value: Any, *, what: str) -> bytes:
    if not isinstance(value, str):
        raise ReceiptError(f"{what} is not a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ReceiptError(f"{what} is not valid hex") from None


def _json_object(raw: bytes, *, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise ReceiptError(f"{what} are not JSON") from None
    if not isinstance(value, dict):
        raise ReceiptError(f"{what} are not a JSON object")
    return value


@dataclass(frozen=True)
class ReceiptVerification:
    """What a verified receipt file established."""

    receipt: dict[str, Any]
    chunk: int
    index: int
    count: int
    chunk_root: bytes
    event_id: str
    entry_index: int
    checkpoint: Checkpoint

    def summary(self) -> str:
        """Returns the human-readable statement of what was verified and what that proves."""
        r, cp = self.receipt, self.checkpoint
        rules = ", ".join(reason.get("rule", "?") for reason in r["reasons"]) or "none"
        return "\n".join(
            [
                f"OK receipt of contact {r['contact_id']} in check {r['check_id']}",
                f"   decision {r['decision']} (rules: {rules}; evidence: {len(r['evidence'])} item(s))",
                f"   campaign {r['campaign_id']} version {r['campaign_version']}, "
                f"rule set {r['ruleset_version']}, decided at {r['at']}",
                f"   leaf {self.index} of chunk {self.chunk} ({self.count} receipts, "
                f"root {self.chunk_root.hex()})",
                f"   chunk event {self.event_id} is audit-log entry {self.entry_index}",
                f"   included in checkpoint {cp.origin} size {cp.size} root {cp.root_hash.hex()}",
                "This proves: these exact receipt bytes were committed in that chunk, whose root the "
                "gate wrote to the audit log as the entry above, and the log's key signed a tree "
                "holding that entry; changing the receipt, the chunk or the entry would break a hash.",
                "It does not prove: that the decision was legally right or that the gate read correct "
                "facts, nor that the log showed everyone the same tree (compare the checkpoint with "
                "one a witness or your `vigie-verify monitor` state holds).",
            ]
        )


@dataclass(frozen=True)
class ProvenReceipt:
    """A receipt whose canonical bytes lead into its chunk root, and the chunk event id that root makes."""

    receipt: dict[str, Any]
    chunk: int
    index: int
    count: int
    chunk_root: bytes
    event_id: str
    header: dict[str, Any]


def check_receipt(served: Any) -> ProvenReceipt:
    """Checks a receipt as the gate serves it (GET /v1/checks/{id}/receipts/{contact}): its fields
    against its canonical bytes, those bytes into the chunk root by the proof; returns the chunk's
    header and the event id it hashes to. Raises ReceiptError."""
    canonical = _b64(_get(served, "canonical", str, where="receipt"), what="receipt canonical")
    receipt = _json_object(canonical, what="the receipt's canonical bytes")
    if set(receipt) != set(RECEIPT_FIELDS):
        raise ReceiptError(
            f"the receipt's canonical bytes hold {sorted(receipt)}, not {list(RECEIPT_FIELDS)}"
        )
    for name in RECEIPT_FIELDS:
        if name in served and served[name] != receipt[name]:
            raise ReceiptError(
                f"the receipt says {name} = {served[name]!r}, its canonical bytes say {receipt[name]!r}"
            )

    chunk = _get(served, "chunk", dict, where="receipt")
    number = _get(chunk, "number", int, where="receipt chunk")
    first_index = _get(chunk, "first_index", int, where="receipt chunk")
    count = _get(chunk, "count", int, where="receipt chunk")
    root = _hex(_get(chunk, "root", str, where="receipt chunk"), what="chunk root")
    index = _get(served, "index", int, where="receipt")
    proof = [
        _hex(p, what=f"inclusion_proof[{i}]")
        for i, p in enumerate(_get(served, "inclusion_proof", list, where="receipt"))
    ]
    leaf = leaf_hash(canonical)
    try:
        verify_inclusion(leaf_hash=leaf, index=index, tree_size=count, proof=proof, root=root)
    except ProofError as exc:
        raise ReceiptError(f"the receipt is not in its chunk's tree: {exc}") from None

    header = {
        "at": receipt["at"],
        "campaign_id": receipt["campaign_id"],
        "campaign_version": receipt["campaign_version"],
        "check_id": receipt["check_id"],
        "chunk": number,
        "count": count,
        "first_index": first_index,
        "root": root.hex(),
        "ruleset_version": receipt["ruleset_version"],
    }
    event_id = chunk_event_id(header)
    if "event_id" in chunk and chunk["event_id"] != event_id:
        raise ReceiptError(
            f"the gate names chunk event {chunk['event_id']!r}; the chunk hashes to {event_id}"
        )

    return ProvenReceipt(
        receipt=receipt,
        chunk=number,
        index=index,
        count=count,
        chunk_root=root,
        event_id=event_id,
        header=header,
    )


def verify_receipt_file(bundle: Any, *, vkey: str, origin: str | None = None) -> ReceiptVerification:
    """Verifies a receipt file's content against the log key ``vkey``; raises VerificationError.

    The checkpoint's signature, the receipt against its bytes, the bytes into the chunk root, the
    chunk header into the audit entry's event id, and the entry into the signed tree.
    """
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise ReceiptError(f"not a receipt file (its 'format' must be {FORMAT!r})")
    checkpoint = open_checkpoint(_get(bundle, "checkpoint", str, where="file"), vkey=vkey, origin=origin)

    served = _get(bundle, "receipt", dict, where="file")
    proven = check_receipt(served)
    receipt, number, index, count, root = (
        proven.receipt,
        proven.chunk,
        proven.index,
        proven.count,
        proven.chunk_root,
    )
    event_id, header = proven.event_id, proven.header

    entry = _get(bundle, "audit_entry", dict, where="file")
    entry_canonical = _b64(_get(entry, "canonical", str, where="audit_entry"), what="audit entry canonical")
    logged = _json_object(entry_canonical, what="the audit entry's canonical bytes")
    if logged.get("event_id") != event_id:
        raise ReceiptError(
            f"the audit entry holds event {logged.get('event_id')!r}, not this chunk's {event_id} "
            "(another chunk, or a changed root, count or receipt)"
        )
    if logged.get("event_type") != CHUNK_EVENT_TYPE:
        raise ReceiptError(f"the audit entry is a {logged.get('event_type')!r}, not a {CHUNK_EVENT_TYPE}")
    entry_index = logged.get("index")
    if not isinstance(entry_index, int) or isinstance(entry_index, bool):
        raise ReceiptError("the audit entry's canonical bytes carry no index")
    opened = entry.get("event")
    if isinstance(opened, dict):
        # Because the log also serves the event it opened: one that disagrees with the chunk it commits
        # to is a log contradicting itself (the sealed bytes cannot be checked without the key).
        served_data = opened.get("data")
        data: dict[str, Any] = served_data if isinstance(served_data, dict) else {}
        disagree = [
            name
            for name in ("check_id", "chunk", "count", "first_index", "root")
            if name in data and data[name] != header[name]
        ]
        if opened.get("id") not in (None, event_id) or disagree:
            fields = ", ".join(disagree) or "id"
            raise ReceiptError(
                f"the audit entry's opened event disagrees with its canonical bytes ({fields})"
            )

    entry_leaf = leaf_hash(entry_canonical)
    entry_proof = _get(bundle, "entry_proof", dict, where="file")
    if _get(entry_proof, "index", int, where="entry_proof") != entry_index:
        raise ReceiptError("the entry proof is for another entry")
    if _get(entry_proof, "tree_size", int, where="entry_proof") != checkpoint.size:
        raise ReceiptError("the entry proof is for another tree size than the checkpoint")
    path = [
        _hex(p, what=f"audit_path[{i}]")
        for i, p in enumerate(_get(entry_proof, "audit_path", list, where="entry_proof"))
    ]
    try:
        verify_inclusion(
            leaf_hash=entry_leaf,
            index=entry_index,
            tree_size=checkpoint.size,
            proof=path,
            root=checkpoint.root_hash,
        )
    except ProofError as exc:
        raise ReceiptError(f"the audit entry is not in the signed tree: {exc}") from None
    return ReceiptVerification(
        receipt=receipt,
        chunk=number,
        index=index,
        count=count,
        chunk_root=root,
        event_id=event_id,
        entry_index=entry_index,
        checkpoint=checkpoint,
    )


# --- Assembling a file from the running services -------------------------------------------------


def fetch_receipt_file(
    *,
    gate_url: str,
    log_url: str,
    gate_token: str | None,
    log_token: str | None,
    check_id: str,
    contact_id: str,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Returns a receipt file assembled from campaign-gate and audit-log (nothing verified yet).

    Raises the CLI's FetchError when a service cannot be reached, answers an error, or the chunk's
    entry is not yet covered by a signed checkpoint.
    """
    # Because the CLI module imports this one for its hook, its HTTP client is imported here.
    from urllib.parse import quote

    from vigie_verify.cli import FetchError, LogClient

    gate = LogClient(gate_url, token=gate_token, timeout=timeout)
    log = LogClient(log_url, token=log_token, timeout=timeout)
    served = gate.get_json(f"/v1/checks/{quote(check_id, safe='')}/receipts/{quote(contact_id, safe='')}")
    chunk = served.get("chunk")
    event_id = chunk.get("event_id") if isinstance(chunk, dict) else None
    if not isinstance(event_id, str):
        raise FetchError("the gate's receipt names no chunk event")
    page = log.get_json(f"/v1/entries?event_id={quote(event_id, safe='')}")
    items = page.get("items")
    if not isinstance(items, list) or not items:
        raise FetchError(f"the audit log holds no entry for chunk event {event_id} yet; retry shortly")
    entry = items[0]
    note = log.get_text("/v1/checkpoint")
    body = note.split("\n\n", 1)[0] + "\n"
    try:
        size = parse_checkpoint_body(body).size
    except VerificationError as exc:
        raise FetchError(f"the log's checkpoint is malformed: {exc}") from None
    index = entry.get("index")
    if not isinstance(index, int) or index >= size:
        raise FetchError(
            f"entry {index} is not yet covered by a signed checkpoint (size {size}); retry shortly"
        )
    proof = log.get_json("/v1/proofs/inclusion", {"index": index, "tree_size": size})
    return {
        "format": FORMAT,
        "receipt": served,
        "audit_entry": entry,
        "entry_proof": proof,
        "checkpoint": note,
    }


# --- The subcommand --------------------------------------------------------------------------------


def run_receipt(args: argparse.Namespace) -> int:
    """Fetches a receipt file (--fetch) or verifies one (--vkey)."""
    if args.fetch:
        if not (args.gate and args.url and len(args.targets) == 2):
            print(
                "vigie-verify receipt --fetch needs --gate, --url, CHECK_ID and CONTACT_ID", file=sys.stderr
            )
            return 2
        check_id, contact_id = args.targets
        bundle = fetch_receipt_file(
            gate_url=args.gate,
            log_url=args.url,
            gate_token=args.gate_token or args.token,
            log_token=args.token,
            check_id=check_id,
            contact_id=contact_id,
            timeout=args.timeout,
        )
        json.dump(bundle, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        if args.vkey:
            print(verify_receipt_file(bundle, vkey=args.vkey, origin=args.origin).summary(), file=sys.stderr)
        return 0
    if len(args.targets) != 1 or not args.vkey:
        print("vigie-verify receipt needs a receipt file and --vkey", file=sys.stderr)
        return 2
    with open(args.targets[0], encoding="utf-8") as handle:
        try:
            bundle = json.load(handle)
        except ValueError as exc:
            raise ReceiptError(f"{args.targets[0]} is not JSON: {exc}") from None
    print(verify_receipt_file(bundle, vkey=args.vkey, origin=args.origin).summary())
    return 0


def register(commands: Any) -> None:
    """Adds the `receipt` subcommand to vigie-verify's subparsers."""
    help_text = "verify a campaign-gate receipt offline, down to a signed checkpoint (or --fetch one)"
    sub = commands.add_parser(
        "receipt",
        help=help_text,
        description=help_text,
        epilog="Assemble: vigie-verify receipt --fetch --gate GATE_URL --url LOG_URL CHECK_ID CONTACT_ID "
        "> receipt.json; verify: vigie-verify receipt receipt.json --vkey VKEY",
    )
    sub.set_defaults(handler=run_receipt)
    sub.add_argument("targets", nargs="+", metavar="FILE | CHECK_ID CONTACT_ID")
    sub.add_argument("--vkey", help="the log's verifier key, <name>+<id>+<base64 key>")
    sub.add_argument("--origin", help="refuse checkpoints whose origin line differs")
    sub.add_argument("--fetch", action="store_true", help="assemble a receipt file on stdout")
    sub.add_argument("--gate", help="base URL of campaign-gate (with --fetch)")
    sub.add_argument("--url", help="base URL of the audit-log service (with --fetch)")
    sub.add_argument(
        "--token", default=os.environ.get("VIGIE_TOKEN"), help="audit-log bearer token (or VIGIE_TOKEN)"
    )
    sub.add_argument(
        "--gate-token",
        default=os.environ.get("VIGIE_GATE_TOKEN"),
        help="campaign-gate bearer token (or VIGIE_GATE_TOKEN; default: --token)",
    )
    sub.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request")
