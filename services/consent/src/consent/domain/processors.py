"""Processors and other vendors: Art. 28 contracts, sub-processors, locations and transfers (I.2–I.4)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from consent.domain import errors, events
from consent.domain.model import check_aware, new_id, to_enum


class ProcessorRole(StrEnum):
    """The vendor's role towards our processing (I.4)."""

    PROCESSOR = "processor"
    SUB_PROCESSOR = "sub_processor"
    JOINT_CONTROLLER = "joint_controller"
    INDEPENDENT_CONTROLLER = "independent_controller"
    DATA_SUPPLIER_BROKER = "data_supplier_broker"


# Roles bound by an Art. 28 contract; the others need a contract, but not the Art. 28(3) checklist.
ART28_ROLES = frozenset({ProcessorRole.PROCESSOR, ProcessorRole.SUB_PROCESSOR})


class ProcessorStatus(StrEnum):
    """Whether the vendor may be used."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class TransferMechanism(StrEnum):
    """The Chapter V ground for processing outside the EU/EEA (I.3, I.4)."""

    ADEQUACY = "adequacy"
    SCC_2021_914_MODULE_1 = "scc_2021_914_module_1"
    SCC_2021_914_MODULE_2 = "scc_2021_914_module_2"
    SCC_2021_914_MODULE_3 = "scc_2021_914_module_3"
    SCC_2021_914_MODULE_4 = "scc_2021_914_module_4"
    BCR = "bcr"
    DEROGATION_ART49 = "derogation_art49"
    NONE = "none"


# Mechanisms after which a transfer impact assessment is expected (Schrems II, CNIL TIA guide 2025).
MECHANISMS_NEEDING_TIA = frozenset(
    {
        TransferMechanism.SCC_2021_914_MODULE_1,
        TransferMechanism.SCC_2021_914_MODULE_2,
        TransferMechanism.SCC_2021_914_MODULE_3,
        TransferMechanism.SCC_2021_914_MODULE_4,
        TransferMechanism.BCR,
    }
)

# I.2 `art28_3_contract_must_set_out`.
ART28_3_MUST_SET_OUT: tuple[str, ...] = (
    "subject_matter_and_duration",
    "nature_and_purpose_of_processing",
    "type_of_personal_data",
    "categories_of_data_subjects",
    "controller_obligations_and_rights",
)

# I.2 `art28_3_mandatory_clauses`, including the last subparagraph and the written form (28(9)).
ART28_3_MANDATORY_CLAUSES: tuple[str, ...] = (
    "a_documented_instructions_only",
    "b_confidentiality_of_authorised_persons",
    "c_security_art32",
    "d_subprocessors",
    "e_assist_with_data_subject_rights",
    "f_assist_with_art32_to_36",
    "g_delete_or_return_at_end",
    "h_information_and_audits",
    "notify_if_instruction_infringes_law",
    "form",
)

ART28_3_CHECKLIST: tuple[str, ...] = ART28_3_MUST_SET_OUT + ART28_3_MANDATORY_CLAUSES

# ISO 3166-1 alpha-2 codes of the EU member states plus Iceland, Liechtenstein and Norway.
EEA_COUNTRIES = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split()
)

# Countries with a Commission adequacy decision, as known when this was written; VERIFY before relying
# on it. Canada covers PIPEDA organisations only, the United States only organisations certified under
# the EU-US Data Privacy Framework: a human should confirm those two.
ADEQUACY_COUNTRIES = frozenset("AD AR CA CH FO GB GG IL IM JP JE KR NZ UY US".split())


@dataclass(frozen=True)
class ProcessorContract:
    """The contract with a vendor and its Art. 28(3) checklist (I.2 keys → present or not)."""

    reference: str
    signed_at: datetime | None
    expires_at: datetime | None = None
    clauses: dict[str, bool] = field(default_factory=dict)
    scc_2021_915: bool = False

    def missing_clauses(self) -> list[str]:
        """Returns the I.2 checklist keys that the contract does not set out, in I.2 order."""
        # Because the Commission's controller-processor SCCs (Decision 2021/915) contain every Art. 28(3)
        # clause; only their annexes, which describe the processing, must still be filled in.
        covered_by_scc = set(ART28_3_MANDATORY_CLAUSES) if self.scc_2021_915 else set()
        return [key for key in ART28_3_CHECKLIST if key not in covered_by_scc and not self.clauses.get(key)]


class Authorisation(StrEnum):
    """The controller's prior written authorisation of a sub-processor (Art. 28(2))."""

    SPECIFIC = "specific"
    GENERAL = "general"
    NONE = "none"


@dataclass(frozen=True)
class SubProcessor:
    """A sub-processor the processor engages, where it is, and whether we authorised it beforehand."""

    name: str
    country: str
    authorisation: Authorisation = Authorisation.NONE
    authorised_at: datetime | None = None
    transfer_mechanism: TransferMechanism | None = None
    objection_window_days: int | None = None

    @property
    def authorised(self) -> bool:
        """Tells whether a prior written authorisation is on record."""
        return self.authorisation is not Authorisation.NONE and self.authorised_at is not None


@dataclass(frozen=True)
class Location:
    """A country where the vendor stores, accesses or supports our data."""

    country: str
    activity: str = "storage"

    @property
    def in_eea(self) -> bool:
        """Tells whether the location is inside the EU/EEA."""
        return self.country.upper() in EEA_COUNTRIES


_UPDATABLE_FIELDS = (
    "legal_name",
    "role",
    "contact",
    "dpo_contact",
    "registration_id",
    "purpose_ids",
    "contract",
    "sub_processors",
    "locations",
    "transfer_mechanism",
    "tia_done_at",
    "status",
)


@dataclass
class Processor:
    """A vendor of the registry: its role, contract, sub-processors, locations and transfers."""

    processor_id: str
    legal_name: str
    role: ProcessorRole
    status: ProcessorStatus
    contact: str = ""
    dpo_contact: str | None = None
    registration_id: str | None = None
    purpose_ids: tuple[str, ...] = ()
    contract: ProcessorContract | None = None
    sub_processors: tuple[SubProcessor, ...] = ()
    locations: tuple[Location, ...] = ()
    transfer_mechanism: TransferMechanism | None = None
    tia_done_at: datetime | None = None
    events: list[events.Event] = field(default_factory=list)

    @classmethod
    def register(
        cls,
        *,
        legal_name: str,
        role: ProcessorRole,
        at: datetime,
        contact: str = "",
        dpo_contact: str | None = None,
        registration_id: str | None = None,
        purpose_ids: Iterable[str] = (),
        contract: ProcessorContract | None = None,
        sub_processors: Iterable[SubProcessor] = (),
        locations: Iterable[Location] = (),
        transfer_mechanism: TransferMechanism | None = None,
        tia_done_at: datetime | None = None,
        status: ProcessorStatus = ProcessorStatus.ACTIVE,
        processor_id: str | None = None,
    ) -> Processor:
        """Registers a vendor; gaps do not stop registration, they stop its use (see `contract_gaps`)."""
        check_aware("at", at)
        check_aware("tia_done_at", tia_done_at)
        processor = cls(
            processor_id=processor_id or new_id(),
            legal_name=legal_name,
            role=ProcessorRole(role),
            status=ProcessorStatus(status),
            contact=contact,
            dpo_contact=dpo_contact,
            registration_id=registration_id,
            purpose_ids=tuple(purpose_ids),
            contract=contract,
            sub_processors=tuple(sub_processors),
            locations=tuple(locations),
            transfer_mechanism=transfer_mechanism,
            tia_done_at=tia_done_at,
        )
        processor.events.append(
            events.ProcessorRegistered(
                processor_id=processor.processor_id,
                legal_name=legal_name,
                role=processor.role.value,
                status=processor.status.value,
                at=at,
                facts=processor.facts(at=at),
            )
        )
        return processor

    def facts(self, *, at: datetime) -> dict[str, object]:
        """Returns what the gate checks before a send through this vendor: contract, clauses, sub-processors,
        gaps."""
        contract = self.contract
        return {
            "purpose_ids": list(self.purpose_ids),
            "contract_reference": contract.reference if contract else None,
            "signed_at": contract.signed_at.isoformat() if contract and contract.signed_at else None,
            "expires_at": contract.expires_at.isoformat() if contract and contract.expires_at else None,
            "missing_clauses": contract.missing_clauses() if contract and self.role in ART28_ROLES else [],
            "sub_processors": [
                {
                    "name": sub.name,
                    "country": sub.country,
                    "authorised": sub.authorised,
                    "authorised_at": sub.authorised_at.isoformat() if sub.authorised_at else None,
                }
                for sub in self.sub_processors
            ],
            "locations": sorted({loc.country for loc in self.locations}),
            "transfer_mechanism": self.transfer_mechanism.value if self.transfer_mechanism else None,
            "transfers_outside_eea": any(not loc.in_eea for loc in self.locations),
            "gaps_at_event": [gap.split(":", 1)[0] for gap in contract_gaps(self, at=at)],
            "gaps": gap_facts(contract_gaps(self, at=at)),
        }

    def update(self, *, at: datetime, **changes: object) -> tuple[str, ...]:
        """Applies `changes` to the record and returns the names of the fields that changed."""
        check_aware("at", at)
        self.check_not_ended()
        unknown = sorted(set(changes) - set(_UPDATABLE_FIELDS))
        if unknown:
            raise errors.InvalidProcessorUpdateError(f"cannot update fields {unknown}")
        normalised = {name: _normalise(name, value) for name, value in changes.items()}
        changed = tuple(
            name
            for name in _UPDATABLE_FIELDS
            if name in normalised and normalised[name] != getattr(self, name)
        )
        if not changed:
            return ()
        for name in changed:
            setattr(self, name, normalised[name])
        self.events.append(
            events.ProcessorUpdated(
                processor_id=self.processor_id,
                changed_fields=changed,
                status=self.status.value,
                at=at,
                facts=self.facts(at=at),
            )
        )
        return changed

    def suspend(self, *, at: datetime) -> None:
        """Suspends the vendor: it may not be used until reactivated."""
        self.update(at=at, status=ProcessorStatus.SUSPENDED)

    def end(self, *, at: datetime) -> None:
        """Ends the relationship for good."""
        self.update(at=at, status=ProcessorStatus.ENDED)

    def check_not_ended(self) -> None:
        """Raises `ProcessorEndedError` when the relationship has ended."""
        if self.status is ProcessorStatus.ENDED:
            raise errors.ProcessorEndedError(self.processor_id)

    def is_usable(self, *, at: datetime) -> bool:
        """Tells whether a send may go through this vendor at `at`: active and without contract gaps."""
        return self.status is ProcessorStatus.ACTIVE and not contract_gaps(self, at=at)


def _normalise(name: str, value: object) -> object:
    if name == "role":
        return to_enum(ProcessorRole, value)
    if name == "status":
        return to_enum(ProcessorStatus, value)
    if name == "tia_done_at":
        if value is not None and not isinstance(value, datetime):
            raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
        check_aware("tia_done_at", value)
    if isinstance(value, list):
        return tuple(value)
    return value


def contract_gaps(processor: Processor, *, at: datetime) -> list[str]:
    """Returns what keeps the vendor from being compliant at `at`, each as 'code: detail'.

    Codes: no_contract, contract_not_signed, contract_expired, missing_clause, subprocessor_not_authorised,
    transfer_without_safeguard, adequacy_not_established, derogation_for_regular_transfer,
    no_transfer_impact_assessment.
    """
    check_aware("at", at)
    gaps: list[str] = []
    contract = processor.contract
    if contract is None:
        gaps.append("no_contract: no contract on record")
    else:
        if contract.signed_at is None or contract.signed_at > at:
            gaps.append(
                f"contract_not_signed: contract {contract.reference!r} is not signed at {at.isoformat()}"
            )
        if contract.expires_at is not None and contract.expires_at <= at:
            gaps.append(
                f"contract_expired: contract {contract.reference!r} "
                f"expired at {contract.expires_at.isoformat()}"
            )
        if processor.role in ART28_ROLES:
            gaps += [f"missing_clause: {key}" for key in contract.missing_clauses()]
    for sub in processor.sub_processors:
        if not sub.authorised or (sub.authorised_at is not None and sub.authorised_at > at):
            gaps.append(
                f"subprocessor_not_authorised: {sub.name} has no prior written authorisation (Art. 28(2))"
            )
    gaps += transfer_gaps(
        [(processor.legal_name, loc.country, loc.activity) for loc in processor.locations],
        mechanism=processor.transfer_mechanism,
        tia_done_at=processor.tia_done_at,
    )
    for sub in processor.sub_processors:
        # The sub-processor's transfer impact assessment is the processor's duty, not tracked here.
        gaps += transfer_gaps(
            [(sub.name, sub.country, "sub-processing")], mechanism=sub.transfer_mechanism, require_tia=False
        )
    return gaps


#: Which part of the vendor record each gap code concerns: the contract's dates, its Art. 28(3) clauses,
#: the sub-processors (Art. 28(2)) or the transfers (Chapter V).
GAP_TOPICS: dict[str, str] = {
    "no_contract": "contract",
    "contract_not_signed": "contract",
    "contract_expired": "contract",
    "missing_clause": "clause",
    "subprocessor_not_authorised": "subprocessor",
    "transfer_without_safeguard": "transfer",
    "adequacy_not_established": "transfer",
    "derogation_for_regular_transfer": "transfer",
    "no_transfer_impact_assessment": "transfer",
}


def gap_facts(gaps: Iterable[str]) -> list[dict[str, str]]:
    """Returns `contract_gaps` as published: code, topic (see `GAP_TOPICS`) and consent's detail, in order."""
    out = []
    for gap in gaps:
        code, _, detail = gap.partition(":")
        out.append({"code": code, "topic": GAP_TOPICS[code], "detail": detail.strip()})
    return out


def transfer_gaps(
    places: Iterable[tuple[str, str, str]],
    *,
    mechanism: TransferMechanism | None,
    tia_done_at: datetime | None = None,
    require_tia: bool = True,
) -> list[str]:
    """Returns the gaps of transfers to the given (who, country, activity) places under one mechanism."""
    gaps: list[str] = []
    for who, country, activity in places:
        code = country.upper()
        if code in EEA_COUNTRIES:
            continue
        where = f"{who} in {code} ({activity})"
        if mechanism is None or mechanism is TransferMechanism.NONE:
            gaps.append(f"transfer_without_safeguard: {where} has no transfer mechanism")
        elif mechanism is TransferMechanism.ADEQUACY and code not in ADEQUACY_COUNTRIES:
            gaps.append(f"adequacy_not_established: no adequacy decision is known for {code} ({who})")
        elif mechanism is TransferMechanism.DEROGATION_ART49:
            # Because Art. 49 derogations cover occasional transfers only, not a vendor's routine processing.
            gaps.append(f"derogation_for_regular_transfer: {where} relies on an Art. 49 derogation")
        elif mechanism in MECHANISMS_NEEDING_TIA and require_tia and tia_done_at is None:
            gaps.append(
                f"no_transfer_impact_assessment: {where} under {mechanism.value} has no assessment on record"
            )
    return gaps
