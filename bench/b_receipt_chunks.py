"""Receipt chunks: the gate's cost of committing a check's receipts to Merkle roots, per receipt.

For `--receipts` receipts cut into chunks of 5,000 (what a check does in `_publish_receipts`), each
round times, alternately: (a) the baseline, the least work any RFC 9162 commitment of the same
receipts needs once their bytes exist: one SHA-256 leaf per receipt and the n-1 inner nodes, over
bytes serialised beforehand and not timed; (b) the gate's path, `chunk_receipt_bytes` (canonical
bytes from the receipt dicts) then `chunk_root`. It also reports the audit entries a check of that
size makes. `python -m bench.b_receipt_chunks [--receipts 1000000] [--rounds 3]`
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from campaign_gate.domain.receipts import RECEIPT_CHUNK, chunk_receipt_bytes, chunk_root

ROOT = Path(__file__).resolve().parent.parent
SHARED = {
    "check_id": "3f9a1c2e-0000-4000-8000-000000000001",
    "campaign_id": "3f9a1c2e-0000-4000-8000-000000000002",
    "campaign_version": 1,
    "ruleset_version": "2026.12",
    "at": "2026-12-07T06:00:00.123456+00:00",
}
REASONS = [
    {"rule": "UNI-04", "message": "Consent was requested and is still pending confirmation (double opt-in)."}
]


def _baseline(leaves: list[list[bytes]]) -> float:
    sha, start = hashlib.sha256, time.perf_counter()
    for chunk in leaves:
        level = [sha(b"\x00" + leaf).digest() for leaf in chunk]
        while len(level) > 1:
            carry = level[-1] if len(level) & 1 else None
            level = [sha(b"\x01" + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=False)]
            if carry is not None:
                level.append(carry)
    return time.perf_counter() - start


def _gate(receipts: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for first in range(0, len(receipts), RECEIPT_CHUNK):
        chunk_root(chunk_receipt_bytes(**SHARED, receipts=receipts[first : first + RECEIPT_CHUNK]))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--receipts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.receipts
    receipts = [
        {"contact_id": f"c-{i:010d}", "decision": "block", "reasons": REASONS, "evidence": [f"consent:{i}"]}
        for i in range(n)
    ]
    leaves = [
        chunk_receipt_bytes(**SHARED, receipts=receipts[first : first + RECEIPT_CHUNK])
        for first in range(0, n, RECEIPT_CHUNK)
    ]
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    rounds = []
    for _ in range(args.rounds):
        base, gate = _baseline(leaves), _gate(receipts)
        rounds.append(
            {"baseline_s": round(base, 3), "gate_s": round(gate, 3), "ratio": round(gate / base, 2)}
        )
        print(json.dumps(rounds[-1]), flush=True)
    best = min(rounds, key=lambda r: r["gate_s"])
    result = {
        "bench": "b_receipt_chunks",
        "receipts": n,
        "chunk": RECEIPT_CHUNK,
        "audit_entries": -(-n // RECEIPT_CHUNK),
        "rounds": rounds,
        "best_gate_s": best["gate_s"],
        "best_gate_us_per_receipt": round(best["gate_s"] / n * 1e6, 2),
        "best_ratio_to_baseline": best["ratio"],
        "loadavg_before": load_before,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "flags": f"--receipts {n} --rounds {args.rounds}",
    }
    out = ROOT / "bench" / "results" / "b_receipt_chunks.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
