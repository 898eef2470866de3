"""Register export in the CNIL template's columns (rule book M.4)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from consent.domain import model, parties, register

M4_LABELS = [
    "Fiche de registre de l'activité",
    "Date de création de la fiche",
    "Date de dernière mise à jour de la fiche",
    "Nom du responsable conjoint du traitement",
    "Nom du logiciel ou de l'application",
    "Objectifs poursuivis",
    "Catégories de personnes concernées",
    "Etat-civil, identité, données d'identification, images",
    "Vie personnelle",
    "Vie professionnelle",
    "Informations d'ordre économique et financier",
    "Données de connexion",
    "Données de localisation",
    "Internet",
    "Autres catégories de données",
    "Des données sensibles sont-elles traitées ?",
    "Durées de conservation des catégories de données",
    "Destinataires internes",
    "Organismes externes",
    "Sous-traitants",
    "Transferts des données hors UE",
    "Contrôle d'accès des utilisateurs",
    "Mesures de traçabilité",
    "Mesures de protection des logiciels",
    "Sauvegarde des données",
    "Chiffrement des données",
    "Contrôle des sous-traitants",
    "Autres mesures",
]


def test_register_columns_are_the_m4_labels_in_order():
    assert list(register.REGISTER_COLUMNS) == M4_LABELS


def test_each_row_has_exactly_the_template_columns_in_order(make_purpose):
    rows = register.register_rows([make_purpose(), make_purpose(name="Fidélisation")])

    assert len(rows) == 2
    assert all(list(row) == M4_LABELS for row in rows)
    assert all(isinstance(value, str) for row in rows for value in row.values())


def test_a_revised_purpose_gives_one_row_from_the_version_in_force(make_purpose, t0):
    purpose = make_purpose()
    purpose.revise(at=t0 + timedelta(days=45), name="Prospection e-mail et SMS")

    rows = register.register_rows([purpose])

    assert len(rows) == 1
    assert rows[0]["Fiche de registre de l'activité"] == "Prospection e-mail et SMS"
    assert rows[0]["Date de création de la fiche"] == "2026-01-15"
    assert rows[0]["Date de dernière mise à jour de la fiche"] == "2026-03-01"


def test_rows_can_be_taken_as_of_an_earlier_time(make_purpose, t0):
    purpose = make_purpose()
    purpose.revise(at=t0 + timedelta(days=45), name="Prospection e-mail et SMS")

    rows = register.register_rows([purpose], at=t0 + timedelta(days=1))

    assert [r["Fiche de registre de l'activité"] for r in rows] == ["Prospection par e-mail"]


def test_a_retired_purpose_has_no_row(make_purpose, t0):
    kept, retired = make_purpose(), make_purpose(name="Ancien jeu concours")
    retired.retire(at=t0 + timedelta(days=1))

    rows = register.register_rows([kept, retired])

    assert [r["Fiche de registre de l'activité"] for r in rows] == ["Prospection par e-mail"]


def test_cells_render_the_register_content(make_purpose):
    purpose = make_purpose(
        lawful_basis=model.LawfulBasis.LEGITIMATE_INTERESTS,
        legitimate_interest="prospection des clients",
        special_categories=True,
        special_categories_detail=("santé",),
        transfers=(
            model.Transfer(
                recipient="MailCo Inc.",
                country="US",
                safeguard=model.TransferSafeguard.SCC,
                documentation="https://docs/scc",
            ),
        ),
        recipients_external=("transporteur", "banque"),
    )

    row = register.register_rows([purpose], processor_names={"proc-router": "RouteurMail SA"})[0]

    assert "intérêt légitime" in row["Objectifs poursuivis"]
    assert "prospection des clients" in row["Objectifs poursuivis"]
    assert row["Catégories de personnes concernées"] == "prospects; clients"
    assert row["Etat-civil, identité, données d'identification, images"] == "nom; prénom; e-mail"
    assert row["Internet"] == "clics"
    assert row["Vie personnelle"] == ""
    assert row["Des données sensibles sont-elles traitées ?"] == "Oui : santé"
    assert (
        row["Durées de conservation des catégories de données"]
        == "prospects : 3 ans après le dernier contact"
    )
    assert row["Organismes externes"] == "transporteur; banque"
    assert row["Sous-traitants"] == "RouteurMail SA"
    assert row["Transferts des données hors UE"].startswith(
        "Oui : MailCo Inc. (US) : clauses contractuelles types"
    )
    assert row["Chiffrement des données"] == "AES-256 au repos"


def test_the_csv_has_the_header_then_one_line_per_purpose_in_force(make_purpose):
    text = register.register_csv([make_purpose(), make_purpose(name="Fidélisation")])

    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == M4_LABELS
    assert [line[0] for line in lines[1:]] == ["Prospection par e-mail", "Fidélisation"]


def test_the_csv_can_start_with_the_common_page_once_per_organisation(make_purpose):
    text = register.register_csv(
        [make_purpose(), make_purpose(name="Fidélisation")], include_common_page=True
    )

    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["Nom de l'organisme", "Acme SAS"]
    assert lines[3] == [register.COMMON_PAGE_LABELS[3], "Prospection par e-mail; Fidélisation"]
    assert lines[4] == []
    assert lines[5] == M4_LABELS


def _party(t0, name, roles, purpose_ids, **overrides):
    return parties.Party.register(legal_name=name, roles=roles, at=t0, purpose_ids=purpose_ids, **overrides)


def test_parties_touching_a_purpose_fill_the_recipient_columns_with_their_contract(make_purpose, t0):
    purpose = make_purpose(processor_ids=("proc-router",), recipients_external=("Partenaires",))
    pid = purpose.purpose_id
    router = _party(t0, "Routeur SAS", ["processor"], [pid], processor_id="proc-router")
    vendor = _party(t0, "Éditeur CRM", ["software_vendor"], [pid])
    broker = _party(t0, "Courtier SA", ["data_broker"], [pid])
    elsewhere = _party(t0, "Autre SAS", ["processor"], ["other-purpose"])
    ended = _party(t0, "Ancien SAS", ["integrator"], [pid], status="ended")
    contract = parties.Contract.sign(
        party=router, version=1, reference="DPA-1", signed_at=t0, at=t0, expires_at=t0 + timedelta(days=365)
    )
    expired = parties.Contract.sign(
        party=vendor,
        version=1,
        reference="LIC-1",
        signed_at=t0 - timedelta(days=400),
        at=t0,
        expires_at=t0 - timedelta(days=1),
    )
    framed = register.framed_parties([router, vendor, broker, elsewhere, ended], [contract, expired], at=t0)

    row = register.register_rows([purpose], processor_names={"proc-router": "Routeur SAS"}, parties=framed)[0]

    assert row["Sous-traitants"] == (
        f"Routeur SAS (sous-traitant ; contrat DPA-1 v1 signé le {t0.date()}, "
        f"expire le {(t0 + timedelta(days=365)).date()})"
    )
    assert (
        row["Organismes externes"]
        == "Partenaires; Éditeur CRM (éditeur de logiciel ; aucun contrat en vigueur)"
    )


def test_the_auditors_csv_has_one_line_per_contract_version_and_names_what_is_missing(t0):
    party = _party(t0, "Routeur SAS", ["processor"], [])
    v1 = parties.Contract.sign(party=party, version=1, reference="DPA-1", signed_at=t0, at=t0)
    v2 = parties.Contract.sign(
        party=party,
        version=2,
        reference="DPA-2",
        signed_at=t0,
        at=t0,
        clauses=set(parties.required_clauses(["processor"])) - {"c_security_art32"},
    )
    lonely = _party(t0, "Conseil SARL", ["consultant"], [])
    findings = parties.party_findings(party, [v1, v2], at=t0)
    text = register.parties_csv([(party, [v1, v2], findings), (lonely, [], [])], at=t0)

    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == register.PARTIES_COLUMNS
    assert [(r["legal_name"], r["contract_version"], r["current"]) for r in rows] == [
        ("Routeur SAS", "1", "false"),
        ("Routeur SAS", "2", "true"),
        ("Conseil SARL", "", "false"),
    ]
    assert rows[1]["missing_clauses"] == "processor: c_security_art32"
    assert "missing_clause" in rows[1]["findings"] and rows[0]["findings"] == ""
