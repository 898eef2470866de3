"""Contacts bulk import: `POST /v1/contacts:import` of 100,000 rows
vs a COPY of the same rows.

Ours: the contacts service under uvicorn (uvloop, httptools, one API worker, relay on, durability
on) receives one NDJSON body of N rows: per-row validation (e-mail syntax, phone parsing to E.164,
enums, dates), a data key and AES-GCM sealing per contact (identifiers, attributes, external_ref),
blind indexes, one ContactCreated outbox row per created contact — that work spread over a pool of
worker processes (one per core) — then per batch one lookup of known people and a COPY of the
contacts and of their outbox rows in one transaction. The file holds 1 % rows of people already in
the database, 1 % repeats within the file and 0.5 % invalid rows.
Baseline, same run, same PostgreSQL: parse the same file with orjson and COPY the rows' fields as
plain columns into a comparable table (unique e-mail index), in batches of the same size, one
transaction per batch (COPY is the fastest way PostgreSQL takes rows).
`python -m bench.b_contacts_import [--rows 100000] [--workers N] [--stream] [--profile]` (`--stream`:
the report streamed as NDJSON lines as batches commit, issue 18; `--profile`: the contacts API process
under cProfile). Each run records the CPU per row of each process group (the contacts API process, its
import workers, PostgreSQL, Kafka; from /proc) during the baseline and during ours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson

from bench import local_token, machine
from bench.b6_http_write import _cpu_seconds, _create_db, _start, _tree_cpu_seconds
from infra import local_kafka, local_postgres
from infra._proc import free_port, stop_pid, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
BATCH = 2000


def _person(n: int, rng: random.Random) -> dict[str, object]:
    row: dict[str, object] = {
        "kind": rng.choice(["consumer", "professional_named"]),
        "relationship": "prospect",
        "given_name": f"Prenom{n}",
        "family_name": f"Nom{n}",
        "email": f"person.{n}@example.org",
        "collected_from_person": True,
        "source": "crm_export",
        "obtained_at": "2026-01-01T10:00:00+00:00",
        "attributes": {"segment": rng.choice(["a", "b", "c"])},
        "external_ref": f"CRM-{n}",
    }
    if n % 3 == 0:
        row["phone"] = (
            f"06 {n // 1000000 % 100:02d} {n // 10000 % 100:02d} {n // 100 % 100:02d} {n % 100:02d}"
        )
    if n % 5 == 0:
        row["postal_address"] = {"line1": f"{n} rue de la Paix", "postal_code": "75002", "city": "Paris"}
    return row


def import_request(rows: list[dict[str, object]], *, secret: str) -> tuple[bytes, dict[str, str]]:
    """Returns the NDJSON body of an import of `rows` and the headers of an integrator posting it."""
    token = local_token(secret, "integrator")
    body = b"\n".join(orjson.dumps(r) for r in rows)
    return body, {"Authorization": f"Bearer {token}", "content-type": "application/x-ndjson"}


def make_rows(count: int, *, existing: int) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Returns (people already in the database, import rows) with known people,
    repeats and bad rows mixed in."""
    rng = random.Random(7)
    known = [_person(10_000_000 + n, rng) for n in range(existing)]
    rows: list[dict[str, object]] = []
    for n in range(count):
        roll = n % 200
        if roll == 17 and known:
            rows.append({**_person(20_000_000 + n, rng), "email": known[n % len(known)]["email"]})
        elif roll in (41, 42) and rows:
            rows.append({**rows[-1], "given_name": "Again"})
        elif roll == 99:
            rows.append({**_person(n, rng), "email": "not-an-email"})
        else:
            rows.append(_person(n, rng))
    return known, rows


async def _baseline(url: str, body: bytes) -> float:
    import asyncpg

    conn = await asyncpg.connect(url)
    await conn.execute("""CREATE TABLE bare_contacts (id uuid PRIMARY KEY, kind text NOT NULL,
        relationship text, given_name text, family_name text, email text, phone text, postal_address jsonb,
        collected_from_person bool, source text, obtained_at timestamptz, attributes jsonb,
        external_ref text)""")
    await conn.execute("CREATE UNIQUE INDEX ON bare_contacts (email)")
    started = time.perf_counter()
    rows = [orjson.loads(line) for line in body.split(b"\n") if line]
    seen: set[str] = set()
    records = []
    for r in rows:
        if r["email"] in seen:
            continue
        seen.add(r["email"])
        records.append(
            (
                uuid.uuid4(),
                r["kind"],
                r["relationship"],
                r["given_name"],
                r["family_name"],
                r["email"],
                r.get("phone"),
                orjson.dumps(r.get("postal_address")).decode(),
                r["collected_from_person"],
                r["source"],
                _ts(r["obtained_at"]),
                orjson.dumps(r["attributes"]).decode(),
                r.get("external_ref"),
            )
        )
    for start in range(0, len(records), BATCH):
        async with conn.transaction():
            await conn.copy_records_to_table("bare_contacts", records=records[start : start + BATCH])
    elapsed = time.perf_counter() - started
    await conn.close()
    return elapsed


def _children(pid: int) -> list[int]:
    try:
        return [
            int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()
        ]
    except (FileNotFoundError, ProcessLookupError):
        return []


def _cpu_snapshot(contacts: int, postgres: int | None, kafka: int | None) -> dict[str, float]:
    """CPU seconds used so far by each side of the run: the contacts API process itself (request
    handling, lookups, COPY, the in-process relay), its import worker processes, PostgreSQL (every
    backend) and Kafka."""
    try:
        api = _cpu_seconds(contacts)
    except (FileNotFoundError, ProcessLookupError):
        api = 0.0
    return {
        "contacts_api_process": api,
        "import_workers": _tree_cpu_seconds(_children(contacts)),
        # The postmaster's reaped children count too: a backend whose connection closed has exited.
        "postgres": _tree_cpu_seconds([postgres]) + _reaped_cpu_seconds(postgres) if postgres else 0.0,
        "kafka": _tree_cpu_seconds([kafka]) if kafka else 0.0,
    }


def _reaped_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def _cpu_per_row(before: dict[str, float], after: dict[str, float], rows: int) -> dict[str, float]:
    per_row = {name: round(1e6 * (after[name] - before[name]) / rows, 1) for name in before}
    per_row["total"] = round(sum(per_row.values()), 1)
    return per_row


def _print_profile(profile: Path) -> None:
    import pstats

    for _ in range(100):  # the profiled server writes its file once it has shut down
        if profile.exists():
            break
        time.sleep(0.1)
    if profile.exists():
        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(40)


def _postgres_pid(run: Path) -> int | None:
    data = run / "pg" / "pgdata"
    if not data.exists():
        return None
    return int((Path(data.read_text()) / "postmaster.pid").read_text().split()[0])


def _kafka_pid(run: Path) -> int | None:
    pid = run / "kafka" / "kafka.pid"
    return int(pid.read_text()) if pid.exists() else None


def _ts(value: str) -> object:
    from datetime import datetime

    return datetime.fromisoformat(value)


async def _bench(args: argparse.Namespace, run: Path) -> dict:
    from shared.migrations import upgrade

    admin = os.environ.get("VIGIE_TEST_DATABASE_URL") or local_postgres.start(run / "pg")
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or local_kafka.start(run / "kafka")
    contacts_url = await _create_db(admin, f"imp_contacts_{uuid.uuid4().hex[:6]}")
    bare_url = await _create_db(admin, f"imp_bare_{uuid.uuid4().hex[:6]}")
    await asyncio.to_thread(upgrade, ROOT / "services" / "contacts", contacts_url)
    secret = "bench-jwt-secret-0123456789abcdef0123456789"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "VIGIE_PROFILE": "test",
        "VIGIE_JWT_SECRET": secret,
        "CONTACTS_DATABASE_URL": contacts_url,
        "VIGIE_LOG_LEVEL": "WARNING",
        "CONTACTS_IMPORT_BATCH_ROWS": str(BATCH),
        "CONTACTS_RETENTION_SWEEP_INTERVAL_SECONDS": "0",
        "CONTACTS_IMPORT_WORKERS": str(args.workers),
    }
    port = free_port()
    profile = run / "contacts.prof" if args.profile else None
    pid = _start(
        ["contacts.main:app", "--factory", "--port", str(port)], env, run, "contacts", profile=profile
    )
    known, rows = make_rows(args.rows, existing=args.existing)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    body, headers = import_request(rows, secret=secret)
    try:
        wait_for_port(port, timeout=60, log=run / "contacts.log")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=3600) as client:
            seeded = await client.post(
                "/v1/contacts:import", content=b"\n".join(orjson.dumps(r) for r in known), headers=headers
            )
            assert seeded.status_code == 200, seeded.text
            contacts_pid = int(pid.read_text())
            pg_pid, kafka_pid = _postgres_pid(run), _kafka_pid(run)
            cpu0 = _cpu_snapshot(contacts_pid, pg_pid, kafka_pid)
            baseline_s = await _baseline(bare_url, body)
            cpu1 = _cpu_snapshot(contacts_pid, pg_pid, kafka_pid)
            started = time.perf_counter()
            if args.stream:
                report, first_line_s = await _streamed(client, body, headers)
            else:
                response = await client.post("/v1/contacts:import", content=body, headers=headers)
                assert response.status_code == 200, response.text[:500]
                report, first_line_s = response.json(), None
            ours_s = time.perf_counter() - started
            cpu2 = _cpu_snapshot(contacts_pid, pg_pid, kafka_pid)
            published_s = await _wait_published(
                contacts_url, started, expected=report["created"] + len(known)
            )
            cpu3 = _cpu_snapshot(contacts_pid, pg_pid, kafka_pid)
    finally:
        stop_pid(pid)
        if profile is not None:
            _print_profile(profile)
        if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
            local_kafka.stop(run / "kafka")
        if "VIGIE_TEST_DATABASE_URL" not in os.environ:
            local_postgres.stop(run / "pg")
    return {
        "benchmark": f"contacts bulk import, {args.rows} NDJSON rows in one POST /v1/contacts:import",
        "baseline": "orjson parse + asyncpg COPY of the same rows "
        "(plain columns, unique e-mail index), "
        f"batches of {BATCH}, one transaction each, same PostgreSQL, same run",
        "import_workers": args.workers or os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        "rows": args.rows,
        "created": report["created"],
        "known": len(report["known"]),
        "row_errors": len(report["errors"]),
        "existing_contacts": len(known),
        "ours_seconds": round(ours_s, 2),
        "ours_rows_per_s": round(args.rows / ours_s),
        "baseline_seconds": round(baseline_s, 2),
        "baseline_rows_per_s": round(args.rows / baseline_s),
        "ratio": round(baseline_s / ours_s, 3),
        "all_events_published_after_s": round(published_s, 2) if published_s is not None else None,
        # CPU µs per row of each process group (from /proc; the baseline's own client-side parsing
        # runs in this bench process and is not counted). "until_published" adds the relay's tail.
        "cpu_us_per_row": {
            "baseline_copy": _cpu_per_row(cpu0, cpu1, args.rows),
            "ours_until_response": _cpu_per_row(cpu1, cpu2, args.rows),
            "ours_until_published": _cpu_per_row(cpu1, cpu3, args.rows),
        },
        "report": "streamed (Accept: application/x-ndjson)" if args.stream else "JSON",
        "first_row_lines_after_s": round(first_line_s, 2) if first_line_s is not None else None,
        "machine": machine(),
    }


async def _streamed(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str]
) -> tuple[dict[str, object], float]:
    """The import with its report streamed: the report's counts from its lines, and when the first
    batch's row lines arrived."""
    started = time.perf_counter()
    first: float | None = None
    known = errors = 0
    summary: dict[str, object] = {}
    accept = {**headers, "accept": "application/x-ndjson"}
    async with client.stream("POST", "/v1/contacts:import", content=body, headers=accept) as response:
        assert response.status_code == 200
        async for raw in response.aiter_lines():
            line = orjson.loads(raw)
            if line["type"] == "row":
                first = first if first is not None else time.perf_counter() - started
                known += line["status"] == "existing"
                errors += line["status"] == "error"
            elif line["type"] == "summary":
                summary = line
            else:
                assert line["type"] == "progress", line
    assert summary, "the stream ended without its summary"
    return {"created": summary["created"], "known": [None] * known, "errors": [None] * errors}, first or 0.0


async def _wait_published(url: str, started: float, *, expected: int, timeout: float = 600) -> float | None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        while time.perf_counter() - started < timeout:
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            total = await conn.fetchval("SELECT count(*) FROM outbox")
            if pending == 0 and total >= expected:
                return time.perf_counter() - started
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    return None


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.b_contacts_import")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--existing", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=0, help="import worker processes (0: one per core)")
    parser.add_argument(
        "--stream", action="store_true", help="ask for the report streamed (Accept: application/x-ndjson)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="run the contacts API process under cProfile and print it"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "contacts_import.json"))
    args = parser.parse_args()
    run = Path(tempfile.mkdtemp(prefix="vigie-import-"))
    report = asyncio.run(_bench(args, run))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
