"""Export of the register of processing in the CNIL register template's columns (rule book M.4)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from consent.domain import parties as party_model
from consent.domain.model import DataCategory, LawfulBasis, Party, Purpose, PurposeVersion, TransferSafeguard

# Multi-valued cells are joined with this separator (M.4).
SEPARATOR = "; "

# M.4 `fiche_columns`, in order, with the template's exact French labels.
REGISTER_COLUMNS: tuple[str, ...] = (
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
)

# M.4 `common_page` labels, in order.
COMMON_PAGE_LABELS: tuple[str, ...] = (
    "Nom de l'organisme",
    "Coordonnées du responsable de l'organisme (responsable de traitement ou son représentant si le "
    "responsable est situé en dehors de l'UE)",
    "Nom et coordonnées du délégué à la protection des données (si vous avez désigné un DPO)",
    "Activités de l'organisme impliquant le traitement de données personnelles",
)

DATA_CATEGORY_COLUMNS: dict[DataCategory, str] = {
    DataCategory.IDENTITY: "Etat-civil, identité, données d'identification, images",
    DataCategory.PERSONAL_LIFE: "Vie personnelle",
    DataCategory.PROFESSIONAL_LIFE: "Vie professionnelle",
    DataCategory.ECONOMIC_FINANCIAL: "Informations d'ordre économique et financier",
    DataCategory.CONNECTION: "Données de connexion",
    DataCategory.LOCATION: "Données de localisation",
    DataCategory.INTERNET: "Internet",
    DataCategory.OTHER: "Autres catégories de données",
}

LAWFUL_BASIS_LABELS: dict[LawfulBasis, str] = {
    LawfulBasis.CONSENT: "consentement (art. 6(1)(a) RGPD)",
    LawfulBasis.CONTRACT: "exécution d'un contrat (art. 6(1)(b) RGPD)",
    LawfulBasis.LEGAL_OBLIGATION: "obligation légale (art. 6(1)(c) RGPD)",
    LawfulBasis.VITAL_INTERESTS: "intérêts vitaux (art. 6(1)(d) RGPD)",
    LawfulBasis.PUBLIC_TASK: "mission d'intérêt public (art. 6(1)(e) RGPD)",
    LawfulBasis.LEGITIMATE_INTERESTS: "intérêt légitime (art. 6(1)(f) RGPD)",
}

SAFEGUARD_LABELS: dict[TransferSafeguard, str] = {
    TransferSafeguard.ADEQUACY: "décision d'adéquation (art. 45)",
    TransferSafeguard.SCC: "clauses contractuelles types (art. 46)",
    TransferSafeguard.BCR: "règles d'entreprise contraignantes (art. 47)",
    TransferSafeguard.DEROGATION: "dérogation (art. 49)",
}


ROLE_LABELS: dict[party_model.PartyRole, str] = {
    party_model.PartyRole.CONSULTANT: "conseil",
    party_model.PartyRole.INTEGRATOR: "intégrateur",
    party_model.PartyRole.SOFTWARE_VENDOR: "éditeur de logiciel",
    party_model.PartyRole.PROCESSOR: "sous-traitant",
    party_model.PartyRole.SUB_PROCESSOR: "sous-traitant ultérieur",
    party_model.PartyRole.DATA_BROKER: "fournisseur de données",
    party_model.PartyRole.JOINT_CONTROLLER: "responsable conjoint",
}

_PROCESSOR_ROLES = frozenset({party_model.PartyRole.PROCESSOR, party_model.PartyRole.SUB_PROCESSOR})


@dataclass(frozen=True)
class FramedParty:
    """A party with the contract in force at the export's time (None when there is none)."""

    party: party_model.Party
    contract: party_model.Contract | None

    def label(self) -> str:
        """Returns the party's name, roles and contract as one register cell entry."""
        roles = ", ".join(ROLE_LABELS[r] for r in self.party.roles)
        contract = self.contract
        if contract is None:
            framing = "aucun contrat en vigueur"
        else:
            framing = f"contrat {contract.reference} v{contract.version}"
            if contract.signed_at is not None:
                framing += f" signé le {contract.signed_at.date().isoformat()}"
            if contract.expires_at is not None:
                framing += f", expire le {contract.expires_at.date().isoformat()}"
        return f"{self.party.legal_name} ({roles} ; {framing})"


def framed_parties(
    parties: Iterable[party_model.Party], contracts: Iterable[party_model.Contract], *, at: datetime
) -> list[FramedParty]:
    """Returns the parties not ended, each with its contract in force at `at` (signed and not expired)."""
    contracts = list(contracts)
    framed = []
    for party in parties:
        if party.status is party_model.PartyStatus.ENDED:
            continue
        current = party_model.current_contract([c for c in contracts if c.party_id == party.party_id], at=at)
        framed.append(
            FramedParty(party, current if current is not None and current.in_force_at(at) else None)
        )
    return framed


def versions_in_force(
    purposes: Iterable[Purpose], *, at: datetime | None = None
) -> list[tuple[Purpose, PurposeVersion]]:
    """Returns each purpose with its version in force at `at` (default: the current one), if any."""
    found = []
    for purpose in purposes:
        version = purpose.current if at is None else purpose.version_at(at)
        if version is not None:
            found.append((purpose, version))
    return found


def register_rows(
    purposes: Iterable[Purpose],
    *,
    at: datetime | None = None,
    processor_names: Mapping[str, str] | None = None,
    parties: Iterable[FramedParty] = (),
) -> list[dict[str, str]]:
    """Returns one row per purpose version in force, keyed by `REGISTER_COLUMNS` in order.

    `at` selects the versions in force at that time (default: the current ones). `processor_names`
    maps processor ids to the names shown in the "Sous-traitants" column (default: the ids).
    `parties` touching a purpose are added with their contract: processors and sub-processors under
    "Sous-traitants", the other recipients (not data brokers, who supply data) under "Organismes externes".
    """
    names = processor_names or {}
    parties = list(parties)
    return [_row(purpose, version, names, parties) for purpose, version in versions_in_force(purposes, at=at)]


def _party_cells(
    purpose_id: str,
    version: PurposeVersion,
    parties: Iterable[FramedParty],
    processor_names: Mapping[str, str],
) -> tuple[list[str], list[str]]:
    processors = [processor_names.get(pid, pid) for pid in version.processor_ids]
    external = list(version.recipients_external)
    for framed in parties:
        party = framed.party
        if purpose_id not in party.purpose_ids:
            continue
        linked = processor_names.get(party.processor_id or "", party.processor_id)
        if party.processor_id in version.processor_ids and linked in processors:
            # Because the processor record is already listed; restate it with its contract instead.
            processors.remove(linked)
        if _PROCESSOR_ROLES & set(party.roles):
            processors.append(framed.label())
        elif set(party.roles) - {party_model.PartyRole.DATA_BROKER}:
            external.append(framed.label())
    return processors, external


def _row(
    purpose: Purpose,
    version: PurposeVersion,
    processor_names: Mapping[str, str],
    parties: Iterable[FramedParty] = (),
) -> dict[str, str]:
    processors, external = _party_cells(purpose.purpose_id, version, parties, processor_names)
    objectives = f"{version.description} — base légale : {LAWFUL_BASIS_LABELS[version.lawful_basis]}"
    if version.legitimate_interest:
        objectives += f" — intérêt légitime poursuivi : {version.legitimate_interest}"
    if version.channels:
        objectives += f" — canaux : {', '.join(c.value for c in version.channels)}"
    if version.profiling:
        objectives += " — profilage"
    if version.dpia_required:
        objectives += " — analyse d'impact (AIPD) requise"
    if version.dpia_reference:
        objectives += f" — AIPD : {version.dpia_reference}"
    if version.art14_exemption_claimed:
        objectives += (
            f" — exception à l'information (art. 14.5.b RGPD) invoquée : {version.art14_exemption_ground}"
        )
    measures = version.security_measures
    row = {
        "Fiche de registre de l'activité": version.name,
        "Date de création de la fiche": purpose.versions[0].valid_from.date().isoformat(),
        "Date de dernière mise à jour de la fiche": version.valid_from.date().isoformat(),
        "Nom du responsable conjoint du traitement": version.joint_controller.name
        if version.joint_controller
        else "",
        "Nom du logiciel ou de l'application": version.software or "",
        "Objectifs poursuivis": objectives,
        "Catégories de personnes concernées": SEPARATOR.join(version.data_subjects),
        **{
            column: SEPARATOR.join(version.data_categories.get(category, ()))
            for category, column in DATA_CATEGORY_COLUMNS.items()
        },
        "Des données sensibles sont-elles traitées ?": (
            "Oui : " + SEPARATOR.join(version.special_categories_detail)
            if version.special_categories
            else "Non"
        ),
        "Durées de conservation des catégories de données": SEPARATOR.join(
            [f"{category} : {period}" for category, period in version.retention.items()]
            + ([f"au plus {version.retention_months} mois"] if version.retention_months else [])
        ),
        "Destinataires internes": SEPARATOR.join(version.recipients_internal),
        "Organismes externes": SEPARATOR.join(external),
        "Sous-traitants": SEPARATOR.join(processors),
        "Transferts des données hors UE": _transfers_cell(version),
        "Contrôle d'accès des utilisateurs": measures.access_control,
        "Mesures de traçabilité": measures.traceability,
        "Mesures de protection des logiciels": measures.software_protection,
        "Sauvegarde des données": measures.backup,
        "Chiffrement des données": measures.encryption,
        "Contrôle des sous-traitants": measures.processor_control,
        "Autres mesures": measures.other,
    }
    # Because a reordered dict would reorder CSV columns; build the row in the template's order.
    return {column: row[column] for column in REGISTER_COLUMNS}


def _transfers_cell(version: PurposeVersion) -> str:
    if not version.transfers:
        return "Non"
    parts = []
    for transfer in version.transfers:
        part = f"{transfer.recipient} ({transfer.country}) : {SAFEGUARD_LABELS[transfer.safeguard]}"
        if transfer.documentation:
            part += f", {transfer.documentation}"
        parts.append(part)
    return "Oui : " + SEPARATOR.join(parts)


def register_common_pages(purposes: Iterable[Purpose], *, at: datetime | None = None) -> list[dict[str, str]]:
    """Returns the template's common page once per organisation (controller), keyed by its labels."""
    by_controller: dict[Party, list[PurposeVersion]] = {}
    dpo_by_controller: dict[Party, Party | None] = {}
    for _, version in versions_in_force(purposes, at=at):
        by_controller.setdefault(version.controller, []).append(version)
        dpo_by_controller.setdefault(version.controller, version.dpo)
    pages = []
    for controller, versions in by_controller.items():
        dpo = dpo_by_controller[controller]
        pages.append(
            {
                COMMON_PAGE_LABELS[0]: controller.name,
                COMMON_PAGE_LABELS[1]: controller.contact,
                COMMON_PAGE_LABELS[2]: f"{dpo.name}, {dpo.contact}" if dpo else "",
                COMMON_PAGE_LABELS[3]: SEPARATOR.join(v.name for v in versions),
            }
        )
    return pages


def register_csv(
    purposes: Iterable[Purpose],
    *,
    at: datetime | None = None,
    processor_names: Mapping[str, str] | None = None,
    include_common_page: bool = False,
    parties: Iterable[FramedParty] = (),
) -> str:
    """Returns the register as CSV: a header of `REGISTER_COLUMNS`, then one line per purpose in force.

    With `include_common_page`, each organisation's common page (label, value lines) comes first,
    then an empty line, then the activity table, as M.4 describes.
    """
    purposes = list(purposes)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if include_common_page:
        for page in register_common_pages(purposes, at=at):
            writer.writerows(page.items())
        writer.writerow([])
    writer.writerow(REGISTER_COLUMNS)
    for row in register_rows(purposes, at=at, processor_names=processor_names, parties=parties):
        writer.writerow(row[column] for column in REGISTER_COLUMNS)
    return buffer.getvalue()


#: Columns of the auditors' parties export, one row per contract version (or one per party without any).
PARTIES_COLUMNS: tuple[str, ...] = (
    "party_id",
    "legal_name",
    "registration_id",
    "roles",
    "status",
    "purpose_ids",
    "data_categories",
    "systems",
    "processor_id",
    "broker_last_verified_at",
    "contract_id",
    "contract_version",
    "contract_reference",
    "signed_at",
    "expires_at",
    "in_force",
    "current",
    "clauses_present",
    "missing_clauses",
    "findings",
)


def parties_csv(
    parties: Iterable[tuple[party_model.Party, list[party_model.Contract], list[party_model.Finding]]],
    *,
    at: datetime,
) -> str:
    """Returns the parties and their contract versions as CSV for auditors (no personal contact details)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(PARTIES_COLUMNS)
    for party, contracts, findings in parties:
        current = party_model.current_contract(contracts, at=at)
        base = [
            party.party_id,
            party.legal_name,
            party.registration_id or "",
            SEPARATOR.join(r.value for r in party.roles),
            party.status.value,
            SEPARATOR.join(party.purpose_ids),
            SEPARATOR.join(party.data_categories),
            SEPARATOR.join(party.systems),
            party.processor_id or "",
            party.broker_last_verified_at.isoformat() if party.broker_last_verified_at else "",
        ]
        finding_cell = SEPARATOR.join(f"{f.code}: {f.message}" for f in findings)
        if not contracts:
            writer.writerow(base + ["", "", "", "", "", "false", "false", "", "", finding_cell])
        for contract in contracts:
            missing = contract.missing_clauses(party.roles)
            writer.writerow(
                base
                + [
                    contract.contract_id,
                    str(contract.version),
                    contract.reference,
                    contract.signed_at.isoformat() if contract.signed_at else "",
                    contract.expires_at.isoformat() if contract.expires_at else "",
                    str(contract.in_force_at(at)).lower(),
                    str(contract is current).lower(),
                    SEPARATOR.join(sorted(contract.present_clauses())),
                    SEPARATOR.join(
                        f"{role}: {clause}" for role, clauses in missing.items() for clause in clauses
                    ),
                    finding_cell if contract is current else "",
                ]
            )
    return buffer.getvalue()
