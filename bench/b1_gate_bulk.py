"""B1: the gate's columnar decisions for 1,000,000 recipients against one SQL query over the same rows.

Campaign: an approved addressed-postal campaign (legitimate interest, right to object stated, no Art. 14
notice in the envelope, no profiling, no Art. 9 targeting). Its recipient-scope rules are
NO_CHANNEL_ADDRESS, UNI-01/02/03/05/06/08, POST-01/02/03, RET-01/02, INFO-01/02/03 (UNI-04/07/09/10/11
and INFO-04 cannot fire on it); the SQL baseline implements every one of them, the SPEC §5
precedence, NO_LAWFUL_BASIS and the primary rule (first cited in table order), in one query.

Both read the same 10^6 resolved recipient rows in PostgreSQL: the gate loads them once into numpy
columns (its in-memory projection; load time reported, not timed), then `decide_bulk` decides and the
allowed / refused id lists and a reason code per recipient are materialised (timed). The baseline
runs the query and fetches (contact id, decision, rule) for every row (timed). Decisions and primary
rules are asserted identical.

`python -m bench.b1_gate_bulk [--n 1000000] [--repeat 5]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bench import machine

ROOT = Path(__file__).resolve().parents[1]

from campaign_gate.domain import bulk, rules  # noqa: E402
from campaign_gate.domain.facts import (  # noqa: E402
    Audience,
    CampaignFacts,
    Channel,
    LawfulBasis,
    MessageFacts,
    StudyFacts,
    StudyQuestion,
)

from infra import local_postgres  # noqa: E402

SEND_AT = datetime(2026, 9, 15, 8, 30, tzinfo=UTC)
CHECK_AT = SEND_AT - timedelta(days=1)
COLUMNS = (
    "contact_id",
    "kind",
    "relationship",
    "has_address",
    "objection",
    "opposition_hit",
    "robinson_hit",
    "consent_status",
    "collected_from_person",
    "third_party_unverified",
    "art13_given",
    "art14_delivered_at",
    "art14_exemption",
    "obtained_at",
    "retention_clock",
    "retention_from",
    "informed",
    "objection_offered",
)

CAMPAIGN = CampaignFacts(
    campaign_id="b1",
    purpose_id="P-postal",
    purpose_lawful_basis=LawfulBasis.LEGITIMATE_INTEREST,
    channel=Channel.POSTAL_ADDRESSED,
    sender_entity="Acme SAS",
    send_at=SEND_AT,
    approved=True,
    purpose_registered=True,
    audience=Audience.B2C,
    product_category="shoes",
    message=MessageFacts(
        subject="Catalogue",
        body="Notre catalogue d'automne.",
        right_to_object_statement=True,
        sender_identification="Acme SAS",
        unsubscribe_mechanism="coupon",
        unsubscribe_free=True,
        objection_reminder=True,
        subject_related_to_offer=True,
    ),
    # Issue 19: the per-operation study answered (no partner, no tracking), as every approved campaign's.
    study=StudyFacts(answers=tuple((q, "b1") for q in StudyQuestion)),
)

# One row per recipient; each CASE arm is one rule, in the rule table's order.
SQL = """
WITH r AS (
  SELECT contact_id, kind = 0 AS consumer, kind = 2 AS generic,
    (NOT collected_from_person AND NOT art14_exemption
      AND NOT (art14_delivered_at IS NOT NULL AND art14_delivered_at <= $1)) AS art14_missing,
    (retention_from IS NOT NULL AND retention_from < $2) AS expired,
    (art14_delivered_at IS NOT NULL AND art14_delivered_at <= $1) AS delivered,
    has_address, objection, opposition_hit, robinson_hit, consent_status, collected_from_person,
    third_party_unverified, art13_given, art14_exemption, obtained_at, retention_clock, informed,
    objection_offered
  FROM b1_recipients
)
SELECT contact_id,
  CASE
    WHEN NOT has_address THEN 'NO_CHANNEL_ADDRESS'
    WHEN objection THEN 'UNI-01'
    WHEN opposition_hit THEN 'UNI-02'
    WHEN consent_status = 2 THEN 'UNI-03'
    WHEN NOT generic AND art14_missing THEN 'UNI-06'
    WHEN expired THEN 'UNI-08'
    WHEN NOT generic AND art14_missing THEN 'POST-02'
    WHEN retention_clock = 1 AND expired THEN 'RET-01'
    WHEN retention_clock = 2 AND expired THEN 'RET-02'
    WHEN NOT generic AND collected_from_person AND NOT art13_given THEN 'INFO-01'
    WHEN NOT generic AND NOT collected_from_person AND NOT art14_exemption AND NOT delivered
        AND obtained_at < $3
        THEN 'INFO-02'
    WHEN NOT generic AND NOT (informed AND objection_offered) THEN 'NO_LAWFUL_BASIS'
    WHEN consumer AND third_party_unverified THEN 'UNI-05'
    WHEN consumer AND robinson_hit THEN 'POST-03'
    WHEN NOT generic AND NOT collected_from_person AND art14_exemption AND NOT delivered THEN 'INFO-03'
    ELSE 'POST-01'
  END AS rule
FROM r
"""
REVIEW_RULES = {"UNI-05", "POST-03", "INFO-03"}


def synthetic_rows(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Returns n resolved recipients whose facts vary so that every rule above fires on some of them."""
    rng = np.random.default_rng(seed)
    moment = np.datetime64(SEND_AT.replace(tzinfo=None), "us")
    day = np.timedelta64(86_400_000_000, "us")

    def flag(p: float) -> np.ndarray:
        return rng.random(n) < p

    def when(p_null: float, low_days: int, high_days: int) -> np.ndarray:
        values = moment - rng.integers(low_days, high_days, n) * day
        values[flag(p_null)] = np.datetime64("NaT")
        return values

    cfp = flag(0.8)
    return {
        "contact_id": np.array([str(uuid.UUID(int=int(i) + 1)) for i in range(n)], dtype=object),
        "kind": rng.choice(np.array([0, 1, 2], dtype=np.int8), n, p=[0.85, 0.1, 0.05]),
        "relationship": rng.integers(0, 4, n).astype(np.int8),
        "has_address": ~flag(0.01),
        "objection": flag(0.01),
        "opposition_hit": flag(0.005),
        "robinson_hit": flag(0.02),
        "consent_status": rng.choice(np.array([0, 1, 2], dtype=np.int8), n, p=[0.5, 0.45, 0.05]),
        "collected_from_person": cfp,
        "third_party_unverified": ~cfp & flag(0.5),
        "art13_given": ~flag(0.01),
        "art14_delivered_at": when(0.3, -5, 400),
        "art14_exemption": ~cfp & flag(0.05),
        "obtained_at": when(0.0, 0, 2000),
        "retention_clock": rng.integers(0, 3, n).astype(np.int8),
        "retention_from": when(0.1, 0, 1500),
        "informed": ~flag(0.01),
        "objection_offered": ~flag(0.01),
    }


def to_columns(rows: dict[str, np.ndarray]) -> bulk.RecipientColumns:
    """Returns the gate's columns; fields no rule of this campaign reads get neutral values."""
    n = len(rows["contact_id"])
    false = np.zeros(n, dtype=bool)
    nat_day = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    nat_us = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    none = np.full(n, None, dtype=object)
    return bulk.RecipientColumns(
        contact_id=rows["contact_id"],
        kind=rows["kind"],
        relationship=rows["relationship"],
        has_address=rows["has_address"],
        objection=rows["objection"],
        opposition_hit=rows["opposition_hit"],
        bloctel_hit=false,
        robinson_hit=rows["robinson_hit"],
        consent_status=rows["consent_status"],
        consent_positive_act=false,
        consent_proof=false,
        consent_explicit=false,
        consent_withdrawal_info=false,
        consent_joint=false,
        consent_granted_on=nat_day,
        collected_from_person=rows["collected_from_person"],
        third_party_unverified=rows["third_party_unverified"],
        art13_given=rows["art13_given"],
        art14_delivered_at=rows["art14_delivered_at"],
        art14_exemption=rows["art14_exemption"],
        obtained_at=rows["obtained_at"],
        obtained_in_opt_in_regime=false,
        retention_clock=rows["retention_clock"],
        retention_from=rows["retention_from"],
        majority_on=nat_day,
        digital_consent_age_on=nat_day,
        retention_flagged=np.zeros(n, dtype=np.int8),
        informed=rows["informed"],
        objection_offered=rows["objection_offered"],
        collected_at_sale=false,
        sender_is_seller=false,
        analogy=np.full(n, 2, dtype=np.int8),
        contract_related=false,
        professional_relevance=false,
        bloctel_checked_on=nat_day,
        out_of_hours_consent=false,
        timezone=np.zeros(n, dtype=np.int16),
        fourth_latest_call_at=nat_us,
        refusal_on=nat_day,
        phone_info_defect=false,
        first_contact=false,
        stop_pub=false,
        # Issue 19: no partner, no tracking in this campaign (RENT-01 and TRACK-01 do not run).
        partner_coverage=np.zeros(n, dtype=np.int8),
        tracking_consent=false,
        # Issue 19, rights: no restricted recipient (RIGHTS-01 runs, blocks no one).
        restricted=false,
        **{name: none for name in bulk.REF_COLUMNS},
    )


def _py(value: np.datetime64) -> datetime | None:
    if np.isnat(value):
        return None
    return value.astype("datetime64[us]").astype(datetime).replace(tzinfo=UTC)


async def load(conn, rows: dict[str, np.ndarray]) -> None:
    """Creates b1_recipients and copies the rows in."""
    await conn.execute("DROP TABLE IF EXISTS b1_recipients")
    await conn.execute("""CREATE TABLE b1_recipients (contact_id text PRIMARY KEY, kind smallint,
        relationship smallint, has_address bool, objection bool, opposition_hit bool, robinson_hit bool,
        consent_status smallint, collected_from_person bool, third_party_unverified bool, art13_given bool,
        art14_delivered_at timestamptz, art14_exemption bool, obtained_at timestamptz,
        retention_clock smallint, retention_from timestamptz, informed bool, objection_offered bool)""")
    n = len(rows["contact_id"])
    converted = {}
    for name in COLUMNS:
        values = rows[name]
        if values.dtype.kind == "M":
            converted[name] = [_py(v) for v in values]
        elif values.dtype == bool:
            converted[name] = [bool(v) for v in values]
        elif values.dtype.kind == "i":
            converted[name] = [int(v) for v in values]
        else:
            converted[name] = list(values)
    records = list(zip(*(converted[c] for c in COLUMNS), strict=True))
    assert len(records) == n
    await conn.copy_records_to_table("b1_recipients", records=records, columns=list(COLUMNS))
    await conn.execute("ANALYZE b1_recipients")


async def read_back(conn) -> dict[str, np.ndarray]:
    """Loads the table into numpy columns, as the gate loads its projection."""
    fetched = await conn.fetch(f"SELECT {', '.join(COLUMNS)} FROM b1_recipients ORDER BY contact_id")
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(COLUMNS):
        values = [r[i] for r in fetched]
        if name == "contact_id":
            out[name] = np.array(values, dtype=object)
        elif name in ("art14_delivered_at", "obtained_at", "retention_from"):
            out[name] = np.array(
                [
                    np.datetime64(v.astimezone(UTC).replace(tzinfo=None), "us") if v else np.datetime64("NaT")
                    for v in values
                ],
                dtype="datetime64[us]",
            )
        elif name in ("kind", "relationship", "consent_status", "retention_clock"):
            out[name] = np.array(values, dtype=np.int8)
        else:
            out[name] = np.array(values, dtype=bool)
    return out


def gate_run(columns: bulk.RecipientColumns) -> tuple[float, bulk.BulkDecisions, np.ndarray, np.ndarray]:
    """Decides every recipient and materialises the allowed and refused lists; returns the time taken."""
    started = time.perf_counter()
    decided = bulk.decide_bulk(CAMPAIGN, columns, at=CHECK_AT)
    allowed = decided.contact_ids[decided.decision == bulk.ALLOW]
    refused = decided.contact_ids[decided.decision != bulk.ALLOW]
    reasons = np.asarray(bulk.RULE_CODES, dtype=object)[decided.primary_rule]
    elapsed = time.perf_counter() - started
    assert len(reasons) == len(columns)
    return elapsed, decided, allowed, refused


async def sql_run(conn) -> tuple[float, list]:
    """Runs the baseline query and fetches every row; returns the time taken."""
    ctx = rules.make_context(CAMPAIGN, at=CHECK_AT)
    started = time.perf_counter()
    fetched = await conn.fetch(SQL, ctx.moment, ctx.retention_threshold, ctx.notice_threshold)
    return time.perf_counter() - started, fetched


async def _bench(args: argparse.Namespace) -> dict:
    import asyncpg

    run = Path(tempfile.mkdtemp(prefix="vigie-b1-"))
    admin = os.environ.get("VIGIE_TEST_DATABASE_URL") or local_postgres.start(run / "pg")
    try:
        conn = await asyncpg.connect(admin)
        name = f"b1_{uuid.uuid4().hex[:6]}"
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        conn = await asyncpg.connect(admin.rsplit("/", 1)[0] + "/" + name)
        rows = synthetic_rows(args.n)
        started = time.perf_counter()
        await load(conn, rows)
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        columns = to_columns(await read_back(conn))
        projection_seconds = time.perf_counter() - started

        gate_times, sql_times = [], []
        decided = allowed = None
        fetched: list = []
        for _ in range(args.repeat):  # Alternated, so that neither side gets a warmer machine.
            elapsed, decided, allowed, refused = gate_run(columns)
            gate_times.append(elapsed)
            elapsed, fetched = await sql_run(conn)
            sql_times.append(elapsed)
        await conn.close()
    finally:
        if "VIGIE_TEST_DATABASE_URL" not in os.environ:
            local_postgres.stop(run / "pg")

    assert decided is not None and allowed is not None
    sql_rule = {r["contact_id"]: r["rule"] for r in fetched}
    ids = decided.contact_ids
    gate_rules = np.asarray(bulk.RULE_CODES, dtype=object)[decided.primary_rule]
    gate_decisions = np.asarray([d.value for d in bulk.DECISIONS], dtype=object)[decided.decision]
    mismatches = 0
    for cid, rule, dec in zip(ids, gate_rules, gate_decisions, strict=True):
        expected_rule = sql_rule[cid]
        expected = (
            "allow"
            if expected_rule == "POST-01"
            else ("needs_review" if expected_rule in REVIEW_RULES else "block")
        )
        mismatches += int(expected_rule != rule or expected != dec)
    assert len(sql_rule) == len(ids) and mismatches == 0, (
        f"{mismatches} decisions differ from the SQL baseline"
    )

    gate_median, sql_median = statistics.median(gate_times), statistics.median(sql_times)
    return {
        "benchmark": "B1 gate bulk decisions, 10^6 recipients (columnar decide_bulk + allowed/refused lists)",
        "baseline": "one SQL query (CASE per rule, table order) over the same rows in PostgreSQL, "
        "rows fetched",
        "recipients": args.n,
        "campaign": "approved postal_addressed, legitimate interest; rules listed in bench/b1_gate_bulk.py",
        "summary": decided.summary(),
        "decisions_identical": True,
        "gate_seconds": [round(t, 4) for t in gate_times],
        "sql_seconds": [round(t, 4) for t in sql_times],
        "gate_median_seconds": round(gate_median, 4),
        "sql_median_seconds": round(sql_median, 4),
        "gate_decisions_per_second": round(args.n / gate_median),
        "sql_decisions_per_second": round(args.n / sql_median),
        "ratio_gate_over_sql": round(gate_median / sql_median, 4),
        "not_timed": {
            "copy_into_postgres_seconds": round(load_seconds, 2),
            "load_projection_into_columns_seconds": round(projection_seconds, 2),
        },
        "targets": {"gate_seconds": "<= 0.5", "ratio_gate_over_sql": "<= 0.4"},
        "machine": machine(numpy=np.__version__),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.b1_gate_bulk")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "b1_gate_bulk.json"))
    args = parser.parse_args()
    report = asyncio.run(_bench(args))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
