"""Machine-usable lists of the rule book (sections J.1, J.2, J.3) and how attributes map to them."""

from __future__ import annotations

import re
import unicodedata
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
# A preferred language or a first name hints at origin for discrimination purposes (DISC-02) but is too
# weak a signal to count as revealing ethnic origin under Art. 9 on its own.
PROXIES_WITHOUT_ART9 = frozenset({"preferred_language_other_than_fr", "first_name"})

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
    # Not in J.3's list: a raw first name used as a criterion stands for origin and sex.
    "first_name": frozenset({"origine", "sexe"}),
}


# CRM attribute names, normalised by `normalise_name` (case, accents, separators, camelCase; French and
# English) -> what they stand for. Names are written here as people type them; registration normalises.
@dataclass(frozen=True, slots=True)
class Meaning:
    """What a CRM attribute name stands for: 225-1 keys, a J.3 proxy and the Art. 9 categories it reveals."""

    keys: frozenset[str]
    proxy: str | None = None
    art9: frozenset[str] = frozenset()


ATTRIBUTE_MEANINGS: dict[str, Meaning] = {}

# Words that qualify an attribute without changing what it reveals ("âge du client", "is_pregnant").
NOISE_TOKENS = frozenset(
    "a au aux d de des du l la le les of the is has client clients customer customers contact person "
    "personne user utilisateur declared declare declaree estimated estime estimee known connu connue "
    "value valeur field champ".split()
)
# Names that mean something else inside a longer name (genre_musical, origine_commande, ville_magasin,
# rayon_enfants, nom_produit): they match only as the whole attribute name.
WHOLE_NAME_ONLY = frozenset(
    "nom name genre origin origine ville city region department departement titre title taille poids size "
    "weight height vote race bank banque langue language enfants children zip cp iris confession culte "
    "apparence appearance parent parents single male female senior seniors jeune jeunes youth minor mineur "
    "majeur generation residence address adresse militant apa ald gir anniversaire birthday autonomie "
    "diagnostic".split()
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^a-z0-9]+")
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})


def normalise_name(text: str) -> str:
    """Returns an attribute name or value in matching form: ascii, lower case, words joined by "_".

    "Âge", "date-de-naissance", "dateDeNaissance", "Date de naissance" and "date.de.naissance" all
    become the same name.
    """
    text = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _CAMEL.sub("_", text).lower()
    return _SEPARATORS.sub("_", text).strip("_")


def art9_of(keys: frozenset[str], proxy: str | None) -> frozenset[str]:
    """Returns the Art. 9 categories that 225-1 keys reveal (J.3), unless the proxy is too weak a signal."""
    if proxy in PROXIES_WITHOUT_ART9:
        return frozenset()
    return frozenset(
        OVERLAP_225_1_TO_ART9[k] for k in keys if k in OVERLAP_225_1_TO_ART9 and k not in PARTIAL_OVERLAPS
    )


def _without_noise(name: str) -> tuple[str, ...]:
    return tuple(t for t in name.split("_") if t and t not in NOISE_TOKENS)


def _register(
    names: tuple[str, ...], keys: set[str], proxy: str | None = None, art9: frozenset[str] = frozenset()
) -> None:
    meaning = Meaning(frozenset(keys), proxy, art9_of(frozenset(keys), proxy) | art9)
    for name in names:
        normalised = normalise_name(name)
        ATTRIBUTE_MEANINGS[normalised] = meaning
        ATTRIBUTE_MEANINGS.setdefault("_".join(_without_noise(normalised)), meaning)


def _attr(*names: str) -> tuple[str, ...]:
    return names


# J.1 origine / ethnie / prétendue race.
_register(
    _attr(
        "origin",
        "origine",
        "ethnic_origin",
        "ethnicity",
        "ethnie",
        "race",
        "origine ethnique",
        "ethnicité",
        "appartenance ethnique",
        "couleur de peau",
        "skin colour",
        "skin color",
    ),
    {"origine", "ethnie"},
)
# Birthplace reveals origin and nation.
_register(
    _attr(
        "pays de naissance",
        "pays_naissance",
        "lieu de naissance",
        "lieu_naissance",
        "ville de naissance",
        "département de naissance",
        "country of birth",
        "birth country",
        "place of birth",
        "birthplace",
        "born abroad",
        "né à l'étranger",
        "pays d'origine",
        "country of origin",
        "origine géographique",
    ),
    {"origine", "nation"},
)
_register(
    _attr(
        "nationality",
        "nation",
        "nationalité",
        "citizenship",
        "citoyenneté",
        "double nationalité",
        "étranger",
        "foreigner",
        "titre de séjour",
        "residence permit",
    ),
    {"nation"},
)
# A first name hints at origin and sex (J.3); on its own it is too weak to reveal ethnic origin.
_register(
    _attr("prénom", "first name", "firstname", "given name", "forename", "prénoms"),
    {"origine", "sexe"},
    "first_name",
)
_register(
    _attr(
        "sex",
        "sexe",
        "gender",
        "genre",
        "civilité",
        "civility",
        "salutation",
        "titre de civilité",
        "femme",
        "homme",
        "is female",
        "is male",
        "male",
        "female",
    ),
    {"sexe"},
)
_register(
    _attr("gender_identity", "identité de genre", "transgenre", "transgender", "non binaire"),
    {"identite_genre"},
)
_register(
    _attr(
        "family_situation",
        "marital_status",
        "situation_famille",
        "situation familiale",
        "situation de famille",
        "situation matrimoniale",
        "statut marital",
        "état matrimonial",
        "marié",
        "married",
        "célibataire",
        "single",
        "divorcé",
        "veuf",
        "veuve",
        "pacsé",
        "en couple",
        "has_children",
        "enfants",
        "children",
        "nombre d'enfants",
        "nb enfants",
        "number of children",
        "parent",
        "parents",
        "famille nombreuse",
        "parent isolé",
        "single parent",
        "household composition",
        "composition du foyer",
    ),
    {"situation_famille"},
)
_register(
    _attr(
        "pregnancy",
        "pregnant",
        "grossesse",
        "enceinte",
        "future maman",
        "expecting",
        "date prévue d'accouchement",
        "due date",
        "maternité",
        "maternity",
    ),
    {"grossesse"},
)
_register(
    _attr(
        "physical_appearance",
        "apparence physique",
        "apparence",
        "appearance",
        "height",
        "weight",
        "taille",
        "poids",
        "corpulence",
        "morphologie",
        "body type",
        "couleur des cheveux",
        "hair colour",
    ),
    {"apparence_physique"},
)
_register(
    _attr(
        "income",
        "income_score",
        "debt_score",
        "low_income",
        "financial_vulnerability",
        "credit_score",
        "revenu",
        "revenus",
        "tranche de revenus",
        "salaire",
        "salary",
        "score d'endettement",
        "endettement",
        "surendettement",
        "over-indebted",
        "fichage banque de france",
        "ficp",
        "rsa",
        "minima sociaux",
        "bénéficiaire rsa",
        "allocataire caf",
        "welfare",
        "quotient familial",
        "solvabilité",
        "score de crédit",
        "précarité",
        "vulnérabilité économique",
        "impayés",
    ),
    {"vulnerabilite_economique"},
    "income_or_debt_score_exclusion",
)
_register(
    _attr(
        "surname",
        "last_name",
        "patronyme",
        "nom",
        "nom de famille",
        "family name",
        "nom de naissance",
        "nom d'usage",
        "maiden name",
    ),
    {"patronyme"},
)
_register(
    _attr(
        "surname_origin",
        "surname_origin_guess",
        "name_origin",
        "name_origin_guess",
        "first_name_origin",
        "origine du nom",
        "origine du prénom",
        "consonance du nom",
        "consonance du prénom",
        "name ethnicity",
        "ethnicity guess",
        "origine estimée",
    ),
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
        "neighborhood",
        "city",
        "department",
        "place_of_residence",
        "lieu_residence",
        "lieu de résidence",
        "code_postal",
        "cp",
        "ville",
        "commune",
        "département",
        "region",
        "région",
        "quartier",
        "adresse",
        "address",
        "code insee",
        "zone urbaine sensible",
        "qpv",
        "quartier prioritaire",
        "banlieue",
        "residence",
    ),
    {"lieu_residence"},
    "postcode_iris_or_neighbourhood_exclusion",
)
_register(
    _attr(
        "health",
        "health_status",
        "medical_condition",
        "etat_sante",
        "état de santé",
        "santé",
        "maladie",
        "maladie chronique",
        "pathologie",
        "diagnostic",
        "diagnosis",
        "traitement médical",
        "medication",
        "diabète",
        "diabetic",
        "allergie",
        "allergies",
        "cancer",
        "vih",
        "hiv",
        "imc",
        "bmi",
        "mutuelle santé",
        "affection longue durée",
        "ald",
        "health condition",
        "illness",
    ),
    {"etat_sante"},
)
_register(
    _attr(
        "loss_of_autonomy",
        "perte d'autonomie",
        "perte_autonomie",
        "dependency",
        "dépendance",
        "gir",
        "niveau gir",
        "apa",
        "aide à domicile",
        "autonomie",
    ),
    {"perte_autonomie"},
)
_register(
    _attr(
        "disability",
        "handicap",
        "handicapé",
        "disabled",
        "invalidité",
        "rqth",
        "pmr",
        "mobilité réduite",
        "reduced mobility",
        "carte d'invalidité",
        "aah",
        "fauteuil roulant",
        "wheelchair",
    ),
    {"handicap"},
)
_register(
    _attr(
        "genetic",
        "genetic_profile",
        "dna",
        "adn",
        "génétique",
        "caractéristiques génétiques",
        "test génétique",
        "genetic test",
    ),
    {"caracteristiques_genetiques"},
)
_register(_attr("moeurs", "mœurs", "lifestyle", "mode de vie"), {"moeurs"})
_register(
    _attr("vie sexuelle", "sex life", "sexual life", "pratiques sexuelles"),
    {"moeurs"},
    art9=frozenset({"sex_life"}),
)
_register(
    _attr(
        "sexual_orientation",
        "orientation sexuelle",
        "homosexuel",
        "gay",
        "lesbienne",
        "lgbt",
        "lgbtq",
        "bisexuel",
    ),
    {"orientation_sexuelle"},
)
_register(
    _attr(
        "age",
        "âge",
        "birth_date",
        "date_of_birth",
        "date de naissance",
        "date_naissance",
        "dob",
        "birthdate",
        "birthday",
        "anniversaire",
        "age_band",
        "tranche d'âge",
        "classe d'âge",
        "year_of_birth",
        "année de naissance",
        "génération",
        "generation",
        "senior",
        "seniors",
        "jeune",
        "jeunes",
        "youth",
        "retraité",
        "retired",
        "mineur",
        "minor",
        "majeur",
    ),
    {"age"},
)
_register(_attr("age_prediction", "predicted_age", "âge estimé", "âge prédit"), {"age"}, "age_prediction")
_register(
    _attr(
        "political_opinion",
        "political_party",
        "politics",
        "opinions_politiques",
        "opinion politique",
        "opinions politiques",
        "parti politique",
        "orientation politique",
        "sympathie politique",
        "vote",
        "intention de vote",
        "voting intention",
        "militant",
        "engagement politique",
    ),
    {"opinions_politiques"},
)
_register(
    _attr(
        "trade_union",
        "union_membership",
        "activites_syndicales",
        "activités syndicales",
        "syndicat",
        "syndiqué",
        "appartenance syndicale",
        "adhésion syndicale",
        "mandat syndical",
        "délégué syndical",
        "union member",
        "trade union membership",
    ),
    {"activites_syndicales"},
)
_register(_attr("whistleblower", "lanceur_alerte", "lanceur d'alerte"), {"lanceur_alerte"})
_register(
    _attr(
        "language",
        "preferred_language",
        "spoken_language",
        "mother_tongue",
        "langue",
        "langue maternelle",
        "langue préférée",
        "langue parlée",
        "native language",
        "francophone",
        "non francophone",
    ),
    {"langue", "origine"},
    "preferred_language_other_than_fr",
)
_register(
    _attr(
        "religion",
        "religious_affiliation",
        "faith",
        "confession",
        "religion déclarée",
        "culte",
        "croyance",
        "croyances",
        "beliefs",
        "religious beliefs",
        "pratique religieuse",
        "convictions religieuses",
        "convictions philosophiques",
        "philosophical beliefs",
        "régime alimentaire religieux",
    ),
    {"religion"},
)
_register(
    _attr("gender_prediction", "predicted_gender", "sexe estimé", "genre estimé", "sexe prédit"),
    {"sexe", "identite_genre"},
    "gender_prediction",
)
_register(
    _attr(
        "pregnancy_prediction",
        "baby_product_prediction",
        "score grossesse",
        "pregnancy score",
        "prédiction grossesse",
    ),
    {"grossesse"},
    "pregnancy_or_baby_product_prediction",
)
_register(
    _attr(
        "bank",
        "bank_domiciliation",
        "domiciliation_bancaire",
        "domiciliation bancaire",
        "banque",
        "iban country",
        "pays iban",
        "code banque",
    ),
    {"domiciliation_bancaire"},
)
# Art. 9 categories with no 225-1 criterion of their own.
_register(
    _attr(
        "biometric",
        "biométrie",
        "données biométriques",
        "biometric data",
        "empreinte digitale",
        "fingerprint",
        "reconnaissance faciale",
        "face recognition",
        "facial recognition",
        "voice print",
        "empreinte vocale",
    ),
    set(),
    art9=frozenset({"biometric_data_unique_id"}),
)


def attribute_meaning(attribute: str) -> Meaning | None:
    """Returns what an attribute name stands for, matching whole names first, then the words inside it.

    "âge_client", "DateDeNaissanceClient" and "client.code-postal" are recognised; a word from
    `WHOLE_NAME_ONLY` only counts as the whole name.
    """
    name = normalise_name(attribute)
    tokens = _without_noise(name)
    for whole in (name, "_".join(tokens)):
        if whole in ATTRIBUTE_MEANINGS:
            return ATTRIBUTE_MEANINGS[whole]
    found: list[Meaning] = []
    i = 0
    while i < len(tokens):
        for j in range(len(tokens), i, -1):
            span = "_".join(tokens[i:j])
            if span in ATTRIBUTE_MEANINGS and span not in WHOLE_NAME_ONLY:
                found.append(ATTRIBUTE_MEANINGS[span])
                i = j
                break
        else:
            i += 1
    if not found:
        return None
    proxies = [m.proxy for m in found if m.proxy]
    return Meaning(
        frozenset().union(*(m.keys for m in found)),
        proxies[0] if proxies else None,
        frozenset().union(*(m.art9 for m in found)),
    )


# Purchase attributes are neutral in themselves; their value can reveal a protected trait.
PURCHASE_ATTRIBUTES = frozenset(
    normalise_name(n)
    for n in (
        "purchased_category",
        "purchase_category",
        "purchases",
        "basket_category",
        "product_category_purchased",
        "catégorie achetée",
        "catégorie d'achat",
        "catégories achetées",
        "achats",
        "historique d'achats",
        "rayon",
        "rayon acheté",
        "panier",
        "catégorie panier",
        "produits achetés",
        "purchase history",
    )
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
        "pharmacie",
        "sante",
        "produits_de_sante",
        "medicament",
        "medicaments",
        "diabete",
        "audioprothese",
        "audioprotheses",
        "test_de_grossesse",
        "orthopedie",
        "optique_medicale",
    }
)
RELIGIOUS_PURCHASE_VALUES = frozenset(
    {
        "halal",
        "kosher",
        "casher",
        "cacher",
        "religious_items",
        "religious_books",
        "prayer_items",
        "objets_religieux",
        "livres_religieux",
        "articles_religieux",
        "ramadan",
        "careme",
    }
)
BABY_PURCHASE_VALUES = frozenset(
    {"baby", "maternity", "pregnancy", "nursery", "bebe", "maternite", "grossesse", "puericulture", "layette"}
)

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
# I.2 (Art. 28(3) clauses) and I.3 (EEA, adequacy) live in consent: the gate reads its gaps as published.

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
    return frozenset(normalise_name(v) for v in items if v)


def classify(criterion: facts.TargetingCriterion) -> Classification:
    """Returns which protected criteria and Art. 9 categories a targeting criterion touches."""
    attribute = normalise_name(criterion.attribute)
    exclusion = _norm(criterion.operator) in EXCLUSION_OPERATORS
    keys: frozenset[str] = frozenset()
    proxy: str | None = None
    art9: frozenset[str] = frozenset()
    meaning = attribute_meaning(criterion.attribute)
    if meaning is not None:
        keys, proxy, art9 = meaning.keys, meaning.proxy, meaning.art9
    elif attribute in PURCHASE_ATTRIBUTES or "_".join(_without_noise(attribute)) in PURCHASE_ATTRIBUTES:
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
        art9 = art9_of(keys, proxy)
    objective = OBJECTIVE_CRITERIA.get(attribute) if not keys else None
    return Classification(protected=keys, art9=art9, proxy=proxy, objective=objective, exclusion=exclusion)


def restricts_by_protected_wording(text: str) -> bool:
    """Says whether a text restricts an offer with wording that names a protected group."""
    return bool(_RESTRICTION.search(text)) and bool(_PROTECTED_WORDS.search(text))


# --- Issue 19: the register template's data-category groups (M.4) a targeting criterion uses (REG-02).

#: 225-1 keys → the CNIL template's group of the data that states them (an Art. 9 category is REG-03's).
KEY_DATA_CATEGORIES: dict[str, str] = {
    "age": "identity",
    "sexe": "identity",
    "identite_genre": "identity",
    "patronyme": "identity",
    "nation": "identity",
    "lieu_residence": "identity",
    "situation_famille": "personal_life",
    "grossesse": "personal_life",
    "moeurs": "personal_life",
    "apparence_physique": "personal_life",
    "langue": "personal_life",
    "activites_syndicales": "professional_life",
    "lanceur_alerte": "professional_life",
    "vulnerabilite_economique": "economic_financial",
    "domiciliation_bancaire": "economic_financial",
}
#: Words of an attribute name → the group its data belongs to (checked on the normalised name's words).
WORD_DATA_CATEGORIES: dict[str, str] = {
    **dict.fromkeys(
        "profession job metier fonction poste employeur employer secteur sector siret entreprise "
        "company".split(),
        "professional_life",
    ),
    **dict.fromkeys(
        "income revenu revenus salaire salary credit score basket panier achat achats purchase purchases "
        "order orders commande commandes loyalty fidelite spend depense depenses amount montant".split(),
        "economic_financial",
    ),
    **dict.fromkeys(
        "click clicks clic clics open opens ouverture ouvertures page pages browsing navigation cookie "
        "cookies visit visits visite visites".split(),
        "internet",
    ),
    **dict.fromkeys("ip login logins connexion connexions connection session sessions".split(), "connection"),
    **dict.fromkeys("geoloc geolocation geolocalisation gps location localisation".split(), "location"),
}


def data_categories_of(criterion: facts.TargetingCriterion, classification: Classification) -> frozenset[str]:
    """Returns the register template's data-category groups a criterion reads, as far as its attribute
    name says (an unknown name says nothing: the campaign declares its `data_categories` itself)."""
    found = {KEY_DATA_CATEGORIES[k] for k in classification.protected if k in KEY_DATA_CATEGORIES}
    name = normalise_name(criterion.attribute)
    if name in PURCHASE_ATTRIBUTES or name in OBJECTIVE_CRITERIA:
        found.add("economic_financial")
    found |= {WORD_DATA_CATEGORIES[w] for w in name.split("_") if w in WORD_DATA_CATEGORIES}
    return frozenset(found)
