"""Request bodies several suites send: consent's purpose and notice, campaign-gate's e-mail campaign."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any


def purpose_body(name: str = "Prospection", **overrides: Any) -> dict[str, Any]:
    """A complete purpose (Art. 30 fields) named `name` plus a unique suffix; `overrides` replace fields."""
    return {
        "name": f"{name} {uuid.uuid4().hex[:6]}",
        "controller": {"name": "Acme SAS", "contact": "1 rue de la Paix, 75002 Paris; privacy@acme.example"},
        "dpo": {"name": "DPO Acme", "contact": "dpo@acme.example"},
        "description": "Envoyer des offres commerciales",
        "lawful_basis": "consent",
        "data_categories": {"identity": ["nom", "e-mail"]},
        "data_subjects": ["prospects"],
        "retention": {"prospects": "3 ans après le dernier contact"},
        "security_measures": {"access_control": "comptes nominatifs", "encryption": "AES-256 au repos"},
        **overrides,
    }


def notice_body(purpose_ids: Iterable[str], article: str = "13") -> dict[str, Any]:
    """A French Art. 13 or Art. 14 notice for the purposes, with every item that article requires."""
    from consent.domain.notices import ART13_REQUIRED, ART14_REQUIRED

    items = ART13_REQUIRED if article == "13" else ART14_REQUIRED
    return {
        "language": "fr",
        "article": article,
        "purpose_ids": list(purpose_ids),
        "content": {item: f"Texte pour {item}." for item in items},
    }


def email_campaign_body(purpose_id: str, **overrides: Any) -> dict[str, Any]:
    """A lawful e-mail campaign for the purpose, sent tomorrow (every message field the rules read)."""
    return {
        "purpose_id": purpose_id,
        "channel": "email",
        "sender_entity": "Acme SAS",
        "message": {
            "subject": "Nos nouvelles chaussures",
            "body": "Découvrez la collection de printemps.",
            "unsubscribe_mechanism": "https://acme.example/stop",
            "unsubscribe_free": True,
            "right_to_object_statement": True,
            "sender_identification": "Acme SAS",
            "subject_related_to_offer": True,
            "objection_reminder": True,
        },
        "product_category": "shoes",
        "send_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "study": STUDY,
        **overrides,
    }


#: A per-operation study with every question answered (issue 19): a segment of past buyers, an offer
#: open to all, no partner, no tracking.
STUDY: dict[str, Any] = {
    "target": {
        "population": "Clients et prospects informés de la collection",
        "criteria": ["purchased_category"],
        "criteria_reason": "Les produits analogues à ceux achetés: critère objectif, aucun critère protégé.",
    },
    "message": {"summary": "La nouvelle collection de chaussures", "claims_substantiated": True},
    "offer": {"conditions": "Prix du catalogue, pour tous", "reserved_to_target": False},
    "partners": {"transfers": False},
    "tracking": {"opening_pixels": False},
}


def study_sign_offs(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A reviewer's sign-off of each study answer the review asks to sign (STUDY-*), on its first ground."""
    return [
        {
            "rule": f["rule"],
            "basis": f["sign_off"]["bases"][0],
            "explanation": "Réponse de l'étude relue et confirmée par la revue juridique de la campagne.",
            "reference": "Note de revue 2026-12",
        }
        for f in findings
        if f["rule"].startswith("STUDY-") and f["severity"] == "needs_review"
    ]
