"""``vigie-verify bundle``: a person's proof-of-consent bundle, verified offline.

audit-log's ``GET /v1/subjects/{subject_id}/proof-bundle`` answers one JSON file about one person
(format ``vigie-proof-bundle/v1``):

- ``covers``: what the bundle is about and holds: the subject id (the contact id), the pseudonym the
  log files its entries under, the log's origin, the checkpoint (size, root) every proof leads to, when
  it was generated, whether the person was erased, and counts;
- ``checkpoint``: that signed checkpoint (C2SP ``tlog-checkpoint`` note);
- ``subject_key``: the person's current data key (base64), which opens the events the log sealed for
  them since their last erasure (null when there is none);
- ``entries``: every audit-log entry filed under the subject below the checkpoint's size, oldest first:
  its canonical bytes (base64), its RFC 9162 audit path to the checkpoint root (hex), and its event as
  published (null once the key that sealed it was destroyed by an erasure);
- ``receipts``: every campaign-gate receipt of the person that can be proven: the gate's answer to
  ``GET /v1/checks/{check_id}/receipts/{contact_id}`` (canonical bytes, index, chunk, inclusion proof
  into the chunk root) and ``chunk_entry``, the index of the audit entry holding the chunk's root;
- ``chunk_entries``: those chunk entries, with their audit paths to the same checkpoint root;
- ``receipts_pending``: the person's receipts the bundle cannot prove (chunk not yet in the log
  below the checkpoint, or a receipt from before chunks), listed, never counted as verified;
- ``signature``: Ed25519 by the log's checkpoint key over ``SIGNATURE_DOMAIN`` followed by the
  canonical JSON of every other field (sorted keys, no spaces, ASCII).

The signature's domain prefix keeps a bundle signature from ever being a checkpoint signature, and the
other way round: a checkpoint note's second line is a decimal size, a bundle's signed bytes have a
JSON object there.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vigie_verify.checkpoint import Checkpoint, open_checkpoint
from vigie_verify.entries import SERVED_FIELDS, canonical_document, served_mismatches
from vigie_verify.errors import ProofError, VerificationError
from vigie_verify.merkle import leaf_hash, verify_inclusion
from vigie_verify.note import key_id, parse_verifier_key
from vigie_verify.receipt import CHUNK_EVENT_TYPE, ReceiptError, check_receipt

__all__ = [
    "ERASURE_EVENT_TYPE",
    "FORMAT",
    "SIGNATURE_DOMAIN",
    "BundleError",
    "BundleVerification",
    "canonical_json",
    "open_sealed_event",
    "register",
    "sign_bundle",
    "signed_bytes",
    "verify_bundle",
]

#: The `format` of a proof bundle.
FORMAT = "vigie-proof-bundle/v1"
#: What the bundle signature signs before the bundle's canonical JSON (never a checkpoint's bytes).
SIGNATURE_DOMAIN = b"vigie:proof-bundle:v1\n"
#: The event that crypto-shreds a person in the log (contacts' erasure).
ERASURE_EVENT_TYPE = "vigie.contacts.contact_erased.v1"
#: The format byte of a sealed event (shared.envelope_crypto's single-value blob), also in its AAD.
_SEALED_VALUE_V1 = b"\x21"
_NONCE = 12


class BundleError(VerificationError):
    """Signals that a proof bundle does not verify (or is malformed), saying what and where."""


def canonical_json(value: Any) -> bytes:
    """Returns the canonical JSON of a value: sorted keys, no spaces, ASCII, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode()


def signed_bytes(bundle: Mapping[str, Any]) -> bytes:
    """Returns the bytes a bundle's signature covers: the domain tag and every field but `signature`."""
    return SIGNATURE_DOMAIN + canonical_json({k: v for k, v in bundle.items() if k != "signature"})


def sign_bundle(
    bundle: Mapping[str, Any], *, private_key: Ed25519PrivateKey, key_name: str
) -> dict[str, Any]:
    """Returns the bundle with its `signature` (Ed25519 by ``key_name`` over `signed_bytes`)."""
    unsigned = {k: v for k, v in bundle.items() if k != "signature"}
    value = private_key.sign(signed_bytes(unsigned))
    return {
        **unsigned,
        "signature": {
            "algorithm": "Ed25519",
            "key_name": key_name,
            "key_id": key_id(key_name, private_key.public_key()).hex(),
            "domain": SIGNATURE_DOMAIN.decode().strip(),
            "value": base64.b64encode(value).decode(),
        },
    }


def open_sealed_event(key: bytes, sealed: bytes, *, event_id: str) -> bytes:
    """Returns the event bytes an entry sealed (AES-256-GCM under the subject's key, bound to its event
    id); raises BundleError when they do not authenticate under that key."""
    if len(sealed) < 1 + _NONCE + 16 or sealed[:1] != _SEALED_VALUE_V1:
        raise BundleError("the sealed event is not a sealed value")
    try:
        return AESGCM(key).decrypt(
            sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :], _SEALED_VALUE_V1 + event_id.encode()
        )
    except (InvalidTag, ValueError):
        raise BundleError("the sealed event does not open with the subject key") from None


# --- Reading the file ----------------------------------------------------------------------------


def _get(obj: Any, name: str, kind: type | tuple[type, ...], *, where: str) -> Any:
    if not isinstance(obj, dict):
        raise BundleError(f"{where} is not a JSON object")
    value = obj.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BundleError(f"{where}: field {name!r} is missing or malformed")
    return value


def _b64(value: Any, *, what: str) -> bytes:
    if not isinstance(value, str):
        raise BundleError(f"{what} is not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{what} is not base64") from None


def _path(value: Any, *, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise BundleError(f"{what} is not a list")
    try:
        return [bytes.fromhex(item) for item in value]
    except (TypeError, ValueError):
        raise BundleError(f"{what} holds a hash that is not hex") from None


def _prove(canonical: bytes, index: int, path: list[bytes], checkpoint: Checkpoint, *, what: str) -> None:
    if index >= checkpoint.size:
        raise BundleError(f"{what} is at index {index}, beyond the checkpoint's size {checkpoint.size}")
    try:
        verify_inclusion(
            leaf_hash=leaf_hash(canonical),
            index=index,
            tree_size=checkpoint.size,
            proof=path,
            root=checkpoint.root_hash,
        )
    except ProofError as exc:
        raise BundleError(f"{what}: its canonical bytes do not lead to the signed root ({exc})") from None


def _logged(entry: Any, *, label: str, position: int) -> tuple[int, bytes, dict[str, Any]]:
    """Returns an entry's index, canonical bytes and what they say, the served fields checked."""
    index = _get(entry, "index", int, where=f"{label} #{position}")
    where = f"{label} {index}"
    canonical = _b64(entry.get("canonical"), what=f"{where} canonical")
    try:
        document = canonical_document(canonical)
    except ValueError:
        raise BundleError(f"{where}: its canonical bytes are not a JSON object") from None
    if document.get("index") != index:
        raise BundleError(f"{where}: its canonical bytes are entry {document.get('index')!r}, not {index}")
    try:
        wrong = served_mismatches(document, {k: v for k, v in entry.items() if k in SERVED_FIELDS})
    except (TypeError, ValueError):
        wrong = ["a time"]
    if wrong:
        raise BundleError(f"{where}: its {', '.join(wrong)} differ from its canonical bytes")
    return index, canonical, document


def _entries(count: int, adjective: str = "") -> str:
    return f"{count} {adjective}{'entry' if count == 1 else 'entries'}"


@dataclass
class BundleVerification:
    """What a verified bundle established."""

    subject_id: str
    subject: str
    checkpoint: Checkpoint
    key_name: str
    generated_at: str
    erased: bool
    entries: int = 0
    readable: int = 0
    redacted: int = 0
    types: Counter[str] = field(default_factory=Counter)
    receipts: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    chunk_entries: int = 0
    pending: int = 0
    after_checkpoint: int = 0

    def summary(self) -> str:
        """Returns the human-readable statement of what was verified, what it proves and what it does not."""
        cp = self.checkpoint
        kinds = ", ".join(
            f"{t.rsplit('.', 2)[-2] if t.count('.') >= 2 else t} {n}" for t, n in sorted(self.types.items())
        )
        decided = ", ".join(f"{d} {n}" for d, n in sorted(self.decisions.items())) or "none"
        lines = [
            f"OK proof bundle of subject {self.subject_id} (filed in the log as {self.subject})",
            f"   signed by {self.key_name} (generated at {self.generated_at}); "
            f"checkpoint {cp.origin} size {cp.size} root {cp.root_hash.hex()}",
            f"   {self.entries} audit entries, each included in that checkpoint: {self.readable} readable "
            f"(event opened with the subject key, naming this subject), {self.redacted} redacted"
            + (" (the person was erased: the key that sealed them is destroyed)" if self.erased else ""),
        ]
        if kinds:
            lines.append(f"     by type: {kinds}")
        lines.append(
            f"   {self.receipts} gate receipt(s) proven into their chunk roots ({decided}), the roots in "
            f"{_entries(self.chunk_entries, 'audit ')} included in the checkpoint"
        )
        if self.pending:
            lines.append(
                f"   {self.pending} receipt(s) listed WITHOUT proof (their chunk is not in the log below the "
                "checkpoint, or they predate chunks): not verified"
            )
        if self.after_checkpoint:
            lines.append(
                f"   not in the bundle: {_entries(self.after_checkpoint, 'later ')} of this subject, "
                "appended after the checkpoint (as the log counts them)"
            )
        lines += [
            "This proves: every entry listed is in the tree the log's key signed at this size, with "
            "exactly these canonical bytes (type, time, actor, event id, sealed event); each readable "
            "event is exactly what the log sealed in its entry and names this subject; each receipt's "
            "exact bytes are in a chunk whose root the log holds in a listed entry; and the log's key "
            "signed this bundle as a whole (its lists, counts and the link between the subject id and "
            "its pseudonym).",
            "It does not prove: that no entry is missing, beyond the log's own signed word that these are "
            "all the entries its subject index held below this size (check it against a full export with "
            "--export); that the gate listed every receipt of the person (receipts are committed per "
            "chunk, not per person); what a redacted entry said; that any decision was legally right; "
            "when the entries were written (a checkpoint has no time); nor that the log showed everyone "
            "the same tree (compare the checkpoint with `vigie-verify monitor` state or a witness).",
        ]
        return "\n".join(lines)


def verify_bundle(bundle: Any, *, vkey: str, origin: str | None = None) -> BundleVerification:
    """Verifies a proof bundle against the log key ``vkey``; raises VerificationError naming what failed.

    In order: the checkpoint's signature; every entry (canonical bytes, subject, its event opened with
    the subject key, its audit path to the signed root); every receipt (its bytes into its chunk root,
    the chunk header into the event id of its chunk entry, which is in the signed tree); the counts;
    and last the bundle's own signature, so that a changed entry or proof is named precisely.
    """
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise BundleError(f"not a proof bundle (its 'format' must be {FORMAT!r})")
    covers = _get(bundle, "covers", dict, where="bundle")
    subject_id = _get(covers, "subject_id", str, where="covers")
    subject = _get(covers, "subject", str, where="covers")
    checkpoint = open_checkpoint(_get(bundle, "checkpoint", str, where="bundle"), vkey=vkey, origin=origin)
    declared = _get(covers, "checkpoint", dict, where="covers")
    if declared.get("size") != checkpoint.size or declared.get("root") != checkpoint.root_hash.hex():
        raise BundleError(
            f"the bundle says it covers checkpoint size {declared.get('size')!r}, the signed checkpoint "
            f"is size {checkpoint.size} root {checkpoint.root_hash.hex()}"
        )
    key_text = bundle.get("subject_key")
    subject_key = None if key_text is None else _b64(key_text, what="subject_key")
    if subject_key is not None and len(subject_key) != 32:
        raise BundleError("subject_key is not a 32-byte key")
    erased = covers.get("erased")
    if not isinstance(erased, bool):
        raise BundleError("covers: field 'erased' is missing or malformed")
    signature = _get(bundle, "signature", dict, where="bundle")
    result = BundleVerification(
        subject_id=subject_id,
        subject=subject,
        checkpoint=checkpoint,
        key_name=str(signature.get("key_name")),
        generated_at=str(covers.get("generated_at")),
        erased=erased,
    )

    previous = -1
    erasures = 0
    for position, entry in enumerate(_get(bundle, "entries", list, where="bundle")):
        index, canonical, document = _logged(entry, label="entry", position=position)
        where = f"entry {index}"
        if index <= previous:
            raise BundleError(f"{where} is out of order or repeated (after entry {previous})")
        previous = index
        if document.get("subject") != subject:
            raise BundleError(
                f"{where} is filed under subject {document.get('subject')!r}, not the bundle's {subject!r}"
            )
        _prove(
            canonical,
            index,
            _path(entry.get("audit_path"), what=f"{where} audit_path"),
            checkpoint,
            what=where,
        )
        event_type = str(document.get("event_type"))
        erasures += event_type == ERASURE_EVENT_TYPE
        result.types[event_type] += 1
        event = entry.get("event")
        opened = _open(document, subject_key)
        if event is None:
            if opened is not None:
                raise BundleError(f"{where}: the subject key opens its event, but the bundle leaves it out")
            result.redacted += 1
        else:
            if opened is None:
                raise BundleError(
                    f"{where}: the bundle shows an event, but none opens from its sealed bytes with the "
                    "subject key"
                )
            if opened != event:
                raise BundleError(f"{where}: its event differs from the event the log sealed in it")
            if not isinstance(event, dict) or event.get("subject") != subject_id:
                raise BundleError(
                    f"{where}: its event is about "
                    f"{event.get('subject') if isinstance(event, dict) else None!r}, "
                    f"not the bundle's subject {subject_id!r}"
                )
            if event.get("id") != document.get("event_id"):
                raise BundleError(f"{where}: its event's id is not the entry's event id")
            result.readable += 1
        result.entries += 1
    if erased != (erasures > 0):
        raise BundleError(
            f"the bundle says erased = {erased}, its entries hold {erasures} erasure(s) of the subject"
        )

    chunks: dict[int, str] = {}
    for position, entry in enumerate(_get(bundle, "chunk_entries", list, where="bundle")):
        index, canonical, document = _logged(entry, label="chunk entry", position=position)
        where = f"chunk entry {index}"
        if document.get("event_type") != CHUNK_EVENT_TYPE:
            raise BundleError(f"{where} is a {document.get('event_type')!r}, not a {CHUNK_EVENT_TYPE}")
        _prove(
            canonical,
            index,
            _path(entry.get("audit_path"), what=f"{where} audit_path"),
            checkpoint,
            what=where,
        )
        chunks[index] = str(document.get("event_id"))
    result.chunk_entries = len(chunks)

    for position, served in enumerate(_get(bundle, "receipts", list, where="bundle")):
        where = f"receipt #{position}"
        try:
            proven = check_receipt(served)
        except ReceiptError as exc:
            raise BundleError(f"{where}: {exc}") from None
        receipt = proven.receipt
        where = f"receipt of check {receipt['check_id']}"
        if receipt["contact_id"] != subject_id:
            raise BundleError(f"{where} is about contact {receipt['contact_id']!r}, not {subject_id!r}")
        entry_index = _get(served, "chunk_entry", int, where=where)
        if entry_index not in chunks:
            raise BundleError(f"{where} names chunk entry {entry_index}, which the bundle does not hold")
        if chunks[entry_index] != proven.event_id:
            raise BundleError(
                f"{where}: its chunk hashes to event {proven.event_id}, chunk entry {entry_index} holds "
                f"{chunks[entry_index]} (a changed decision, root, count or receipt)"
            )
        result.receipts += 1
        result.decisions[str(receipt["decision"])] += 1

    for position, pending in enumerate(_get(bundle, "receipts_pending", list, where="bundle")):
        if _get(pending, "contact_id", str, where=f"pending receipt #{position}") != subject_id:
            raise BundleError(f"pending receipt #{position} is about another contact")
        result.pending += 1

    counts = _get(covers, "counts", dict, where="covers")
    actual = {
        "entries": result.entries,
        "readable": result.readable,
        "redacted": result.redacted,
        "receipts": result.receipts,
        "chunk_entries": result.chunk_entries,
        "receipts_pending": result.pending,
    }
    wrong = [
        f"{name} {counts.get(name)!r} (holds {value})"
        for name, value in actual.items()
        if counts.get(name) != value
    ]
    if wrong:
        raise BundleError(f"the bundle's counts disagree with what it holds: {', '.join(wrong)}")
    after = counts.get("after_checkpoint", 0)
    result.after_checkpoint = after if isinstance(after, int) and not isinstance(after, bool) else 0

    _check_signature(bundle, signature, vkey=vkey)
    return result


def _open(document: Mapping[str, Any], subject_key: bytes | None) -> Any:
    """Returns the event an entry's canonical bytes seal, opened with the subject key; None if it does not
    open (no key, or sealed under a key an erasure destroyed)."""
    if subject_key is None:
        return None
    try:
        sealed = base64.b64decode(str(document.get("sealed_event")), validate=True)
        raw = open_sealed_event(subject_key, sealed, event_id=str(document.get("event_id")))
    except (binascii.Error, ValueError, BundleError):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise BundleError(f"entry {document.get('index')}: its sealed event is not JSON") from None


def _check_signature(bundle: Mapping[str, Any], signature: Mapping[str, Any], *, vkey: str) -> None:
    name, trusted_id, public_key = parse_verifier_key(vkey)
    if signature.get("algorithm") != "Ed25519":
        raise BundleError(f"the bundle is signed with {signature.get('algorithm')!r}, not Ed25519")
    if signature.get("key_name") != name or signature.get("key_id") != trusted_id.hex():
        raise BundleError(
            f"the bundle is signed by {signature.get('key_name')!r} ({signature.get('key_id')!r}), "
            f"not by the pinned key {name} ({trusted_id.hex()})"
        )
    value = _b64(signature.get("value"), what="signature value")
    try:
        public_key.verify(value, signed_bytes(bundle))
    except InvalidSignature:
        raise BundleError(
            "the bundle's signature does not verify: its statement, lists or counts were changed after "
            "the log signed it"
        ) from None


# --- The subcommand --------------------------------------------------------------------------------


def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except ValueError as exc:
            raise BundleError(f"{path} is not JSON: {exc}") from None


def check_against_export(result: BundleVerification, bundle: Mapping[str, Any], export_path: str) -> int:
    """Checks that a full NDJSON export holds no entry filed under the bundle's subject below the
    checkpoint's size that the bundle leaves out; returns how many export lines were read."""
    listed = {entry["index"] for entry in bundle["entries"]}
    missing: list[int] = []
    read = 0
    with open(export_path, "rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            read += 1
            try:
                item = json.loads(line)
                if "error" in item:
                    raise BundleError(f"the export ends with an error: {item['error']}")
                document = canonical_document(base64.b64decode(item["canonical"], validate=True))
            except (KeyError, TypeError, ValueError, binascii.Error):
                raise BundleError(f"line {read} of {export_path} is not an exported entry") from None
            index = document.get("index")
            if (
                isinstance(index, int)
                and index < result.checkpoint.size
                and document.get("subject") == result.subject
                and index not in listed
            ):
                missing.append(index)
    if missing:
        shown = ", ".join(str(i) for i in missing[:10])
        raise BundleError(
            f"the export holds {_entries(len(missing))} of the subject that the bundle leaves out: {shown}"
        )
    return read


def fetch_bundle(*, log_url: str, token: str | None, subject_id: str, timeout: float = 30.0) -> bytes:
    """Returns a person's bundle as audit-log serves it (nothing verified yet); the CLI's FetchError
    when the log cannot be reached or answers an error (404: nothing about the subject under a
    checkpoint yet; 503: campaign-gate did not answer)."""
    # Because the CLI module imports this one for its hook, its HTTP client is imported here.
    from urllib.parse import quote

    from vigie_verify.cli import LogClient

    client = LogClient(log_url, token=token, timeout=timeout)
    return client.get_bytes(f"/v1/subjects/{quote(subject_id, safe='')}/proof-bundle")


def run_bundle(args: argparse.Namespace) -> int:
    """Verifies a proof bundle file offline, or (--fetch) writes one downloaded from audit-log to stdout."""
    vkey = args.vkey or args.public_key
    if args.fetch:
        if not args.url:
            print("vigie-verify bundle --fetch needs --url and a SUBJECT_ID", file=sys.stderr)
            return 2
        body = fetch_bundle(log_url=args.url, token=args.token, subject_id=args.file, timeout=args.timeout)
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        if vkey:
            try:
                bundle = json.loads(body)
            except ValueError:
                raise BundleError("audit-log answered something that is not JSON") from None
            print(verify_bundle(bundle, vkey=vkey, origin=args.origin).summary(), file=sys.stderr)
        return 0
    if not vkey:
        print("vigie-verify bundle needs --vkey (or --public-key), the log's verifier key", file=sys.stderr)
        return 2
    bundle = _load(args.file)
    result = verify_bundle(bundle, vkey=vkey, origin=args.origin)
    print(result.summary())
    if args.export:
        read = check_against_export(result, bundle, args.export)
        print(
            f"   complete against {args.export} ({read} entries read): no entry of this subject below size "
            f"{result.checkpoint.size} is left out (verify the export itself with `vigie-verify log`)"
        )
    return 0


def register(commands: Any) -> None:
    """Adds the `bundle` subcommand to vigie-verify's subparsers."""
    help_text = "verify a person's proof-of-consent bundle offline, down to its signed checkpoint"
    sub = commands.add_parser(
        "bundle",
        help=help_text,
        description=help_text,
        epilog="Download: vigie-verify bundle --fetch --url LOG_URL SUBJECT_ID > bundle.json (GET "
        "/v1/subjects/{subject_id}/proof-bundle, role auditor or admin); verify: vigie-verify bundle "
        "bundle.json --vkey VKEY",
    )
    sub.set_defaults(handler=run_bundle)
    sub.add_argument("file", metavar="FILE | SUBJECT_ID")
    sub.add_argument("--vkey", help="the log's verifier key, <name>+<id>+<base64 key>")
    sub.add_argument("--public-key", dest="public_key", help="same as --vkey")
    sub.add_argument("--origin", help="refuse checkpoints whose origin line differs")
    sub.add_argument(
        "--export",
        help="a full NDJSON export of the log (GET /v1/export) to check that no entry of the subject "
        "below the checkpoint's size is left out",
    )
    sub.add_argument("--fetch", action="store_true", help="download SUBJECT_ID's bundle to stdout")
    sub.add_argument("--url", help="base URL of the audit-log service (with --fetch)")
    sub.add_argument(
        "--token", default=os.environ.get("VIGIE_TOKEN"), help="audit-log bearer token (or VIGIE_TOKEN)"
    )
    sub.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request")
