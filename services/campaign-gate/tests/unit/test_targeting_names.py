"""Targeting detection recognises attribute names however they are written (issue 13, defect 3).

Names are normalised (case, accents, separators `_ - . space`, camelCase) and matched against the J.1,
J.2 and J.3 vocabularies in French and English; words that mean something else inside a longer name
(`genre_musical`, `origine_commande`) only count as the whole name.
"""

from __future__ import annotations

import pytest
from campaign_gate.domain import criteria
from campaign_gate.domain.facts import TargetingCriterion
from campaign_gate.domain.review import review_campaign
from campaign_gate.domain.rules import Outcome
from campaign_gate_examples import SEND_BLOCTEL, at_for, campaign


def classify(attribute: str, value: str = "x") -> criteria.Classification:
    return criteria.classify(TargetingCriterion(attribute, "eq", value))


@pytest.mark.parametrize(
    ("attribute", "keys", "art9"),
    [
        # The names the issue lists, as a French CRM writes them.
        ("âge", {"age"}, set()),
        ("civilité", {"sexe"}, set()),
        ("situation_familiale", {"situation_famille"}, set()),
        ("nationalité", {"nation"}, set()),
        ("pays_naissance", {"origine", "nation"}, {"racial_or_ethnic_origin"}),
        ("prénom", {"origine", "sexe"}, set()),
        ("sexe", {"sexe"}, set()),
        ("religion", {"religion"}, {"religious_or_philosophical_beliefs"}),
        ("handicap", {"handicap"}, {"health_data"}),
        ("origine", {"origine", "ethnie"}, {"racial_or_ethnic_origin"}),
        ("lieu_de_naissance", {"origine", "nation"}, {"racial_or_ethnic_origin"}),
        ("date_de_naissance", {"age"}, set()),
        ("code_postal", {"lieu_residence"}, set()),
        ("grossesse", {"grossesse"}, {"health_data"}),
        ("orientation_sexuelle", {"orientation_sexuelle"}, {"sexual_orientation"}),
        ("état_de_santé", {"etat_sante"}, {"health_data"}),
        ("syndicat", {"activites_syndicales"}, {"trade_union_membership"}),
        # Case, accents, separators and camelCase.
        ("ÂGE", {"age"}, set()),
        ("Date de naissance", {"age"}, set()),
        ("date-de-naissance", {"age"}, set()),
        ("date.de.naissance", {"age"}, set()),
        ("dateDeNaissance", {"age"}, set()),
        ("DateOfBirth", {"age"}, set()),
        ("Etat de Sante", {"etat_sante"}, {"health_data"}),
        ("perte d'autonomie", {"perte_autonomie"}, {"health_data"}),
        ("mœurs", {"moeurs"}, set()),
        ("Situation-Familiale", {"situation_famille"}, set()),
        ("orientationSexuelle", {"orientation_sexuelle"}, {"sexual_orientation"}),
        # Qualified names: the protected word inside a longer name.
        ("âge_client", {"age"}, set()),
        ("ageClient", {"age"}, set()),
        ("client.code-postal", {"lieu_residence"}, set()),
        ("tranche_d_âge_estimée", {"age"}, set()),
        ("is_pregnant", {"grossesse"}, {"health_data"}),
        ("religion_declaree_du_client", {"religion"}, {"religious_or_philosophical_beliefs"}),
        ("prenom_et_religion", {"origine", "sexe", "religion"}, {"religious_or_philosophical_beliefs"}),
        # English and the rest of J.1 / J.2.
        ("marital status", {"situation_famille"}, set()),
        ("country_of_birth", {"origine", "nation"}, {"racial_or_ethnic_origin"}),
        ("first_name", {"origine", "sexe"}, set()),
        ("trade union membership", {"activites_syndicales"}, {"trade_union_membership"}),
        ("opinion politique", {"opinions_politiques"}, {"political_opinions"}),
        ("identité de genre", {"identite_genre"}, set()),
        ("apparence physique", {"apparence_physique"}, set()),
        ("surendettement", {"vulnerabilite_economique"}, set()),
        ("langue maternelle", {"langue", "origine"}, set()),
        ("lanceur d'alerte", {"lanceur_alerte"}, set()),
        ("caractéristiques génétiques", {"caracteristiques_genetiques"}, {"genetic_data"}),
        ("domiciliation bancaire", {"domiciliation_bancaire"}, set()),
        ("vie sexuelle", {"moeurs"}, {"sex_life"}),
        ("biométrie", set(), {"biometric_data_unique_id"}),
    ],
)
def test_protected_attribute_names_are_recognised_in_french_and_english(
    attribute: str, keys: set[str], art9: set[str]
) -> None:
    found = classify(attribute)
    assert (set(found.protected), set(found.art9)) == (keys, art9)


@pytest.mark.parametrize(
    "attribute",
    [
        "nom_produit",
        "genre_musical",
        "origine_commande",
        "ville_magasin",
        "page_views",
        "shoe_size",
        "rayon_enfants_vu",
        "loyalty_card",
        "Catégorie produit",
        "panier_moyen_eur",
    ],
)
def test_neutral_names_that_contain_an_ambiguous_word_are_not_flagged(attribute: str) -> None:
    assert classify(attribute).protected == frozenset() and classify(attribute).art9 == frozenset()


@pytest.mark.parametrize(
    ("attribute", "value", "art9"),
    [
        ("catégorie_achetée", "Pharmacie", "health_data"),
        ("historique d'achats", "Casher", "religious_or_philosophical_beliefs"),
        ("rayon", "Puériculture", "health_data"),
    ],
)
def test_purchase_values_in_french_reveal_art9_categories(attribute: str, value: str, art9: str) -> None:
    assert art9 in classify(attribute, value).art9


@pytest.mark.parametrize(
    ("attribute", "rule", "outcome"),
    [
        ("âge", "DISC-04", Outcome.NEEDS_REVIEW),
        ("civilité", "DISC-04", Outcome.NEEDS_REVIEW),
        ("situation_familiale", "DISC-04", Outcome.NEEDS_REVIEW),
        ("nationalité", "DISC-04", Outcome.NEEDS_REVIEW),
        ("pays_naissance", "DISC-06", Outcome.BLOCK),
        ("prénom", "DISC-04", Outcome.NEEDS_REVIEW),
        ("état_de_santé", "DISC-06", Outcome.BLOCK),
        ("syndicat", "DISC-06", Outcome.BLOCK),
    ],
)
def test_french_names_reach_the_campaign_review(attribute: str, rule: str, outcome: Outcome) -> None:
    c = campaign(targeting=(TargetingCriterion(attribute, "eq", "x"),))
    found = [(f.rule_id, f.outcome) for f in review_campaign(c, at=at_for(SEND_BLOCTEL))]
    assert (rule, outcome) in found


@pytest.mark.parametrize(
    ("attribute", "rule"),
    [("prénom", "DISC-02"), ("nationalité", "DISC-02"), ("âge", "DISC-01"), ("Civilité", "DISC-01")],
)
def test_french_names_in_offer_eligibility_block(attribute: str, rule: str) -> None:
    c = campaign(offer_eligibility=(TargetingCriterion(attribute, "eq", "x"),))
    found = [(f.rule_id, f.outcome) for f in review_campaign(c, at=at_for(SEND_BLOCTEL))]
    assert (rule, Outcome.BLOCK) in found


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Âge", "age"),
        ("dateDeNaissance", "date_de_naissance"),
        ("  Code-Postal ", "code_postal"),
        ("état.de santé", "etat_de_sante"),
        ("perte d'autonomie", "perte_d_autonomie"),
        ("Mœurs", "moeurs"),
        ("HTTPStatusCode", "http_status_code"),
    ],
)
def test_names_are_normalised_for_case_accents_separators_and_camel_case(raw: str, normalised: str) -> None:
    assert criteria.normalise_name(raw) == normalised
