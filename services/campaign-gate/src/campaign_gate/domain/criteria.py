"""Machine-usable lists of the rule book (sections J.1, J.2, J.3, I.2) and how attributes map to them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from campaign_gate.domain import facts


@dataclass(frozen=True, slots=True)
class ProtectedCriterion:
    """One criterion of art. 225-1 Code pénal (J.1)."""

    key: str
    fr: str
    en: str
    since: str | None = None
    verify: bool = False


# J.1, in the order of the article; the whistleblower item is in 225-1 itself since 2022-09-01 (M.3).
CODE_PENAL_225_1: tuple[ProtectedCriterion, ...] = (
    ProtectedCriterion("origine", "origine", "origin"),
    ProtectedCriterion("sexe", "sexe", "sex"),
    ProtectedCriterion("situation_famille", "situation de famille", "family situation"),
    ProtectedCriterion("grossesse", "grossesse", "pregnancy"),
    ProtectedCriterion("apparence_physique", "apparence physique", "physical appearance"),
    ProtectedCriterion(
        "vulnerabilite_economique",
        "particulière vulnérabilité résultant de la situation économique, apparente ou connue de son auteur",
        "particular vulnerability resulting from economic situation",
    ),
    ProtectedCriterion("patronyme", "patronyme", "surname"),
    ProtectedCriterion("lieu_residence", "lieu de résidence", "place of residence"),
    ProtectedCriterion("etat_sante", "état de santé", "state of health"),
    ProtectedCriterion("perte_autonomie", "perte d'autonomie", "loss of autonomy"),
    ProtectedCriterion("handicap", "handicap", "disability"),
    ProtectedCriterion(
        "caracteristiques_genetiques", "caractéristiques génétiques", "genetic characteristics"
    ),
    ProtectedCriterion("moeurs", "mœurs", "morals / lifestyle"),
    ProtectedCriterion("orientation_sexuelle", "orientation sexuelle", "sexual orientation"),
    ProtectedCriterion("identite_genre", "identité de genre", "gender identity"),
    ProtectedCriterion("age", "âge", "age"),
    ProtectedCriterion("opinions_politiques", "opinions politiques", "political opinions"),
    ProtectedCriterion("activites_syndicales", "activités syndicales", "trade-union activities"),
    ProtectedCriterion(
        "lanceur_alerte",
        "qualité de lanceur d'alerte, de facilitateur ou de personne en lien avec un lanceur d'alerte",
        "whistleblower, facilitator or person connected with a whistleblower",
        since="2022-09-01",
        verify=True,
    ),
    ProtectedCriterion(
        "langue",
        "capacité à s'exprimer dans une langue autre que le français",
        "ability to speak another language",
    ),
    ProtectedCriterion(
        "ethnie", "appartenance ou non-appartenance, vraie ou supposée, à une ethnie", "ethnic group"
    ),
    ProtectedCriterion(
        "nation", "appartenance ou non-appartenance, vraie ou supposée, à une Nation", "nation"
    ),
    ProtectedCriterion(
        "pretendue_race",
        "appartenance ou non-appartenance, vraie ou supposée, à une prétendue race",
        "so-called race",
    ),
    ProtectedCriterion(
        "religion",
        "appartenance ou non-appartenance, vraie ou supposée, à une religion déterminée",
        "religion",
    ),
)
CODE_PENAL_225_1_KEYS = frozenset(c.key for c in CODE_PENAL_225_1)

# Loi 2008-496 art. 1 adds this one to the 225-1 list.
LOI_2008_496_EXTRA_KEYS = frozenset({"domiciliation_bancaire"})
PROTECTED_KEYS = CODE_PENAL_225_1_KEYS | LOI_2008_496_EXTRA_KEYS

# DISC-02: loi 2008-496 art. 2 3° al. 3 allows no justification for these (the DISC-02 row adds nation).
NO_JUSTIFICATION_KEYS = frozenset({"origine", "patronyme", "ethnie", "nation", "pretendue_race"})

# J.2: GDPR Art. 9(1) special categories.
GDPR_ART9_CATEGORIES: dict[str, str] = {
    "racial_or_ethnic_origin": "personal data revealing racial or ethnic origin",
    "political_opinions": "personal data revealing political opinions",
    "religious_or_philosophical_beliefs": "personal data revealing religious or philosophical beliefs",
    "trade_union_membership": "personal data revealing trade union membership",
    "genetic_data": "genetic data",
    "biometric_data_unique_id": "biometric data for the purpose of uniquely identifying a natural person",
    "health_data": "data concerning health",
    "sex_life": "data concerning a natural person's sex life",
    "sexual_orientation": "data concerning a natural person's sexual orientation",
}
GDPR_ART10_CATEGORIES = {"criminal_convictions_offences": "personal data relating to criminal convictions"}

# J.3 overlap map; the partial ones only reveal an Art. 9 category sometimes, so they are not
# treated as Art. 9 on their own.
OVERLAP_225_1_TO_ART9: dict[str, str] = {
    "origine": "racial_or_ethnic_origin",
    "ethnie": "racial_or_ethnic_origin",
    "pretendue_race": "racial_or_ethnic_origin",
    "nation": "racial_or_ethnic_origin",
    "religion": "religious_or_philosophical_beliefs",
    "opinions_politiques": "political_opinions",
    "activites_syndicales": "trade_union_membership",
    "etat_sante": "health_data",
    "handicap": "health_data",
    "perte_autonomie": "health_data",
    "grossesse": "health_data",
    "caracteristiques_genetiques": "genetic_data",
    "orientation_sexuelle": "sexual_orientation",
    "moeurs": "sex_life",
}
PARTIAL_OVERLAPS = frozenset({"nation", "moeurs"})
# A preferred language hints at origin for discrimination purposes (DISC-02) but is too weak a signal
# to count as revealing ethnic origin under Art. 9 on its own.
PROXIES_WITHOUT_ART9 = frozenset({"preferred_language_other_than_fr"})

# J.3 proxy heuristics: each maps to the 225-1 keys it stands for.
PROXY_FIELDS: dict[str, frozenset[str]] = {
    "first_name_or_surname_origin_model": frozenset({"patronyme", "origine"}),
    "preferred_language_other_than_fr": frozenset({"langue", "origine"}),
    "postcode_iris_or_neighbourhood_exclusion": frozenset({"lieu_residence"}),
    "income_or_debt_score_exclusion": frozenset({"vulnerabilite_economique"}),
    "purchases_of_religious_or_dietary_items": frozenset({"religion"}),
    "pharmacy_or_health_product_purchases": frozenset({"etat_sante"}),
    "pregnancy_or_baby_product_prediction": frozenset({"grossesse"}),
    "gender_prediction": frozenset({"sexe", "identite_genre"}),
    "age_prediction": frozenset({"age"}),
}


def _attr(*names: str) -> tuple[str, ...]:
    return names


# CRM attribute names (normalised) -> (225-1 keys stated, proxy name or None).
ATTRIBUTE_MEANINGS: dict[str, tuple[frozenset[str], str | None]] = {}


def _register(names: tuple[str, ...], keys: set[str], proxy: str | None = None) -> None:
    for name in names:
        ATTRIBUTE_MEANINGS[name] = (frozenset(keys), proxy)


_register(_attr("origin", "origine", "ethnic_origin", "ethnicity", "ethnie", "race"), {"origine", "ethnie"})
_register(_attr("nationality", "nation", "nationalite"), {"nation"})
_register(_attr("sex", "sexe", "gender", "genre"), {"sexe"})
_register(_attr("gender_identity", "identite_genre"), {"identite_genre"})
_register(
    _attr("family_situation", "marital_status", "situation_famille", "has_children"), {"situation_famille"}
)
_register(_attr("pregnancy", "pregnant", "grossesse"), {"grossesse"})
_register(_attr("physical_appearance", "apparence_physique", "height", "weight"), {"apparence_physique"})
_register(
    _attr("income", "income_score", "debt_score", "low_income", "financial_vulnerability", "credit_score"),
    {"vulnerabilite_economique"},
    "income_or_debt_score_exclusion",
)
_register(_attr("surname", "last_name", "patronyme", "nom"), {"patronyme"})
_register(
    _attr("surname_origin", "surname_origin_guess", "name_origin", "name_origin_guess", "first_name_origin"),
    {"patronyme", "origine"},
    "first_name_or_surname_origin_model",
)
_register(
    _attr(
        "postcode",
        "postal_code",
        "zip",
        "zip_code",
        "iris",
        "neighbourhood",
        "city",
        "department",
        "place_of_residence",
        "lieu_residence",
        "code_postal",
    ),
    {"lieu_residence"},
    "postcode_iris_or_neighbourhood_exclusion",
)
_register(_attr("health", "health_status", "medical_condition", "etat_sante"), {"etat_sante"})
_register(_attr("loss_of_autonomy", "perte_autonomie", "dependency"), {"perte_autonomie"})
_register(_attr("disability", "handicap"), {"handicap"})
_register(_attr("genetic", "genetic_profile", "dna"), {"caracteristiques_genetiques"})
_register(_attr("moeurs", "lifestyle"), {"moeurs"})
_register(_attr("sexual_orientation", "orientation_sexuelle"), {"orientation_sexuelle"})
_register(_attr("age", "birth_date", "date_of_birth", "age_band", "year_of_birth"), {"age"})
_register(_attr("age_prediction", "predicted_age"), {"age"}, "age_prediction")
_register(
    _attr("political_opinion", "political_party", "politics", "opinions_politiques"), {"opinions_politiques"}
)
_register(_attr("trade_union", "union_membership", "activites_syndicales"), {"activites_syndicales"})
_register(_attr("whistleblower", "lanceur_alerte"), {"lanceur_alerte"})
_register(
    _attr("language", "preferred_language", "spoken_language", "mother_tongue", "langue"),
    {"langue", "origine"},
    "preferred_language_other_than_fr",
)
_register(_attr("religion", "religious_affiliation", "faith", "confession"), {"religion"})
_register(_attr("gender_prediction", "predicted_gender"), {"sexe", "identite_genre"}, "gender_prediction")
_register(
    _attr("pregnancy_prediction", "baby_product_prediction"),
    {"grossesse"},
    "pregnancy_or_baby_product_prediction",
)
_register(_attr("bank", "bank_domiciliation", "domiciliation_bancaire"), {"domiciliation_bancaire"})

# Purchase attributes are neutral in themselves; their value can reveal a protected trait.
PURCHASE_ATTRIBUTES = frozenset(
    {"purchased_category", "purchase_category", "purchases", "basket_category", "product_category_purchased"}
)
HEALTH_PURCHASE_VALUES = frozenset(
    {
        "pharmacy",
        "parapharmacy",
        "health",
        "health_products",
        "medical",
        "medication",
        "otc_drugs",
        "diabetes",
        "incontinence",
        "hearing_aids",
        "pregnancy_test",
    }
)
RELIGIOUS_PURCHASE_VALUES = frozenset(
    {"halal", "kosher", "religious_items", "religious_books", "prayer_items"}
)
BABY_PURCHASE_VALUES = frozenset({"baby", "maternity", "pregnancy", "nursery"})

# DISC-09: objective, non-protected eligibility criteria, and whether any consumer can meet them.
OBJECTIVE_CRITERIA: dict[str, bool] = {
    "existing_customer": True,
    "customer": True,
    "loyalty_card": True,
    "loyalty_member": True,
    "first_order": True,
    "min_basket": True,
    "basket_amount": True,
    "newsletter_subscriber": True,
    "paid_membership": False,
    "premium_subscriber": False,
    "invitation_only": False,
}

EXCLUSION_OPERATORS = frozenset({"ne", "!=", "not_in", "not_eq", "excludes", "exclude", "not_contains"})

# TEL-08 as corrected by M.1: energy saving or renewables, and adapting homes to ageing or disability
# (equipment, works or services); no consent lifts it, only a contract in progress.
SECTOR_BAN_CATEGORIES = frozenset(
    {"home_energy_renovation", "renewable_energy_production", "home_adaptation_ageing_disability"}
)
# DISC-08: offers likely to harm people made vulnerable by age, disability or economic situation.
HARMFUL_TO_VULNERABLE_CATEGORIES = frozenset(
    {"gambling", "high_cost_credit", "payday_loan", "debt_consolidation"}
)
VULNERABILITY_KEYS = frozenset({"vulnerabilite_economique", "handicap", "perte_autonomie", "age"})

# I.2: mandatory Art. 28(3) clauses of a processor contract.
ART28_3_CLAUSES = frozenset(
    {
        "a_documented_instructions_only",
        "b_confidentiality_of_authorised_persons",
        "c_security_art32",
        "d_subprocessors",
        "e_assist_with_data_subject_rights",
        "f_assist_with_art32_to_36",
        "g_delete_or_return_at_end",
        "h_information_and_audits",
        "notify_if_instruction_infringes_law",
    }
)
# I.3: ISO 3166-1 alpha-2 codes of the EEA (EU member states, Iceland, Liechtenstein, Norway); a processor
# located elsewhere transfers data outside the EEA.
EEA_COUNTRIES = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split()
)
# I.3: transfer tools by rank; an Art. 49 derogation is for occasional cases only.
TRANSFER_MECHANISMS_OK = frozenset({"adequacy", "scc_2021_914", "bcr"})
TRANSFER_MECHANISMS_REVIEW = frozenset({"derogation_art49"})

# MSG-06: wording that restricts an offer, and words that name a protected group.
_RESTRICTION = re.compile(r"\b(réservée?s?|reserved|sauf|except|excluding|uniquement|only|interdit)\b", re.I)
_PROTECTED_WORDS = re.compile(
    r"\b(femmes?|hommes?|women|men|âge|ans|seniors?|jeunes|religion|musulmans?|chrétiens?|juifs?|catholiques?"
    r"|nationalité|français(es)?|étrangers?|origine|handicapés?|enceintes?|mariés?|célibataires?|quartiers?"
    r"|résidents?|habitants?)\b",
    re.I,
)


@dataclass(frozen=True, slots=True)
class Classification:
    """What one targeting criterion touches in the protected lists."""

    protected: frozenset[str]  # 225-1 (and loi 2008-496) keys, stated or through a proxy.
    art9: frozenset[str]  # GDPR Art. 9 categories revealed, stated or inferred.
    proxy: str | None
    objective: bool | None  # None: not an objective criterion; else whether any consumer can meet it.
    exclusion: bool


def _norm(text: str) -> str:
    return text.strip().lower().replace("-", "_").replace(" ", "_")


def _values(value: str | tuple[str, ...]) -> frozenset[str]:
    items = (value,) if isinstance(value, str) else value
    return frozenset(_norm(v) for v in items if v)


def classify(criterion: facts.TargetingCriterion) -> Classification:
    """Returns which protected criteria and Art. 9 categories a targeting criterion touches."""
    attribute = _norm(criterion.attribute)
    exclusion = _norm(criterion.operator) in EXCLUSION_OPERATORS
    keys: frozenset[str] = frozenset()
    proxy: str | None = None
    if attribute in ATTRIBUTE_MEANINGS:
        keys, proxy = ATTRIBUTE_MEANINGS[attribute]
    elif attribute in PURCHASE_ATTRIBUTES:
        values = _values(criterion.value)
        found: set[str] = set()
        if values & HEALTH_PURCHASE_VALUES:
            found.add("etat_sante")
            proxy = "pharmacy_or_health_product_purchases"
        if values & RELIGIOUS_PURCHASE_VALUES:
            found.add("religion")
            proxy = proxy or "purchases_of_religious_or_dietary_items"
        if values & BABY_PURCHASE_VALUES:
            found.add("grossesse")
            proxy = proxy or "pregnancy_or_baby_product_prediction"
        keys = frozenset(found)
    art9: frozenset[str] = frozenset()
    if proxy not in PROXIES_WITHOUT_ART9:
        art9 = frozenset(
            OVERLAP_225_1_TO_ART9[k] for k in keys if k in OVERLAP_225_1_TO_ART9 and k not in PARTIAL_OVERLAPS
        )
    objective = OBJECTIVE_CRITERIA.get(attribute) if not keys else None
    return Classification(protected=keys, art9=art9, proxy=proxy, objective=objective, exclusion=exclusion)


def targets_art9(criteria: tuple[facts.TargetingCriterion, ...]) -> bool:
    """Says whether any criterion reveals an Art. 9 category."""
    return any(classify(c).art9 for c in criteria)


def restricts_by_protected_wording(text: str) -> bool:
    """Says whether a text restricts an offer with wording that names a protected group."""
    return bool(_RESTRICTION.search(text)) and bool(_PROTECTED_WORDS.search(text))
