"""The canonical bytes of an entry are sorted-key, spaceless, ASCII-escaped JSON, byte for byte."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from audit_log.domain.model import AuditEntry, canonical_entry_bytes, reference_canonical_entry_bytes

AWKWARD = [
    "plain",
    'quote " and backslash \\',
    "newline\nand tab\t",
    "accents éà and emoji 🎉",
    "</script>",
    "\u2028",
    "control \x01",
    "",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_the_fast_encoding_matches_the_reference_json_for_awkward_strings(text: str) -> None:
    fields = dict(
        index=12345678901,
        event_id=f"id-{text}",
        event_type=f"type.{text}",
        source=f"/src/{text}",
        subject_pseudonym=f"p{text}",
        actor=f"crm/{text}",
        event_time=datetime(2026, 10, 1, 10, 0, 0, 1, tzinfo=UTC),
        integrated_at=datetime(2026, 10, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        sealed_event=bytes(range(256)),
    )

    fast = canonical_entry_bytes(**fields)

    assert fast == reference_canonical_entry_bytes(**fields)
    assert json.loads(fast)["actor"] == f"crm/{text}"
    assert fast.isascii()


def test_an_entry_commits_to_its_canonical_bytes_and_every_field_changes_them() -> None:
    entry = AuditEntry(
        index=0,
        event_id="e",
        event_type="t",
        source="s",
        subject_pseudonym="p",
        actor="a",
        event_time=datetime(2026, 1, 1, tzinfo=UTC),
        integrated_at=datetime(2026, 1, 1, tzinfo=UTC),
        sealed_event=b"x",
    )
    altered = [
        entry.__class__(**{**entry.__dict__, name: value})
        for name, value in [
            ("index", 1),
            ("event_id", "f"),
            ("event_type", "u"),
            ("source", "r"),
            ("subject_pseudonym", "q"),
            ("actor", "b"),
            ("event_time", datetime(2026, 1, 2, tzinfo=UTC)),
            ("integrated_at", datetime(2026, 1, 2, tzinfo=UTC)),
            ("sealed_event", b"y"),
        ]
    ]

    assert len({entry.canonical_bytes(), *(a.canonical_bytes() for a in altered)}) == 10
