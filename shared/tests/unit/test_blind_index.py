import hashlib
import hmac
import random
import re
import sys
import time
import unicodedata

import pytest
from shared.blind_index import (
    BlindIndexer,
    BlindIndexKeyError,
    IdentifierKind,
    InvalidIdentifierError,
    normalise_email,
    normalise_phone,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


@pytest.fixture
def indexer() -> BlindIndexer:
    return BlindIndexer(KEY)


def test_email_is_stripped_and_lower_cased_whole() -> None:
    assert normalise_email("  Alice.Martin@Example.COM \n") == "alice.martin@example.com"


def test_email_in_composed_and_decomposed_unicode_normalises_the_same() -> None:
    assert normalise_email("Ze\u0301lie@exemple.fr") == normalise_email("Z\u00e9lie@exemple.fr")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "alice",
        "alice@",
        "@example.com",
        "alice@@example.com",
        "al ice@example.com",
        "alice@localhost",
        "alice@example..com",
        "alice@-example.com",
        ".alice@example.com",
        "alice..martin@example.com",
        "a" * 65 + "@example.com",
        "alice@" + "a" * 250 + ".com",
    ],
)
def test_obviously_invalid_emails_are_rejected_naming_the_field(value: str) -> None:
    with pytest.raises(InvalidIdentifierError) as caught:
        normalise_email(value)
    assert caught.value.field == "email"
    assert str(caught.value).startswith("email:")


def test_a_rejected_email_is_not_echoed_in_the_error_message() -> None:
    with pytest.raises(InvalidIdentifierError) as caught:
        normalise_email("secret person@example.com")
    assert "secret" not in str(caught.value)


def test_a_non_string_email_is_rejected() -> None:
    with pytest.raises(InvalidIdentifierError):
        # A deliberately ill-typed call: the runtime check is what is under test.
        normalise_email(None)  # type: ignore[arg-type]


def test_invalid_identifier_error_is_a_value_error() -> None:
    assert issubclass(InvalidIdentifierError, ValueError)


@pytest.mark.parametrize(
    "value",
    [
        "06 12 34 56 78",
        "0612345678",
        "+33 6 12 34 56 78",
        "+33612345678",
        "0033 6 12 34 56 78",
        "06.12.34.56.78",
    ],
)
def test_french_mobile_numbers_in_any_format_normalise_to_e164(value: str) -> None:
    assert normalise_phone(value) == "+33612345678"


def test_a_national_number_is_read_in_the_given_default_region() -> None:
    assert normalise_phone("030 123456", default_region="DE") == "+4930123456"


def test_a_number_with_international_prefix_ignores_the_default_region() -> None:
    assert normalise_phone("+32 470 12 34 56", default_region="FR") == "+32470123456"


@pytest.mark.parametrize("value", ["", "hello", "12", "+33 1", "06 12 34", "+999 123456789"])
def test_invalid_phone_numbers_are_rejected_naming_the_field(value: str) -> None:
    with pytest.raises(InvalidIdentifierError) as caught:
        normalise_phone(value)
    assert caught.value.field == "phone"


def test_the_same_email_in_different_formatting_gives_the_same_index(indexer: BlindIndexer) -> None:
    assert indexer.email("  Alice@Example.COM ") == indexer.email("alice@example.com")


def test_the_same_phone_in_different_formatting_gives_the_same_index(indexer: BlindIndexer) -> None:
    assert indexer.phone("+33 6 12 34 56 78") == indexer.phone("06 12 34 56 78")


def test_different_keys_give_different_indexes() -> None:
    assert BlindIndexer(KEY).email("alice@example.com") != BlindIndexer(OTHER_KEY).email("alice@example.com")


def test_different_identifiers_give_different_indexes(indexer: BlindIndexer) -> None:
    assert indexer.email("alice@example.com") != indexer.email("bob@example.com")


def test_index_is_lower_case_hex_hmac_sha256_of_the_domain_separated_value(indexer: BlindIndexer) -> None:
    expected = hmac.new(KEY, b"email:alice@example.com", hashlib.sha256).hexdigest()
    assert indexer.email("Alice@Example.com") == expected
    assert len(expected) == 64 and expected == expected.lower()


def test_phone_index_uses_its_own_domain_prefix(indexer: BlindIndexer) -> None:
    expected = hmac.new(KEY, b"phone:+33612345678", hashlib.sha256).hexdigest()
    assert indexer.phone("06 12 34 56 78") == expected


def test_the_same_string_as_email_and_as_phone_gives_different_indexes(indexer: BlindIndexer) -> None:
    assert indexer.of_normalised("email", "+33612345678") != indexer.of_normalised("phone", "+33612345678")


def test_of_normalised_matches_the_index_of_the_raw_value(indexer: BlindIndexer) -> None:
    assert indexer.of_normalised("email", "alice@example.com") == indexer.email(" ALICE@example.com")
    assert indexer.of_normalised("phone", "+33612345678") == indexer.phone("06 12 34 56 78")


@pytest.mark.parametrize(
    ("kind", "value"),
    [("email", "Alice@example.com"), ("email", " alice@example.com"), ("phone", "0612345678"), ("phone", "")],
)
def test_of_normalised_rejects_values_that_are_not_normalised(
    indexer: BlindIndexer, kind: IdentifierKind, value: str
) -> None:
    with pytest.raises(InvalidIdentifierError):
        indexer.of_normalised(kind, value)


def test_of_normalised_rejects_an_unknown_kind(indexer: BlindIndexer) -> None:
    with pytest.raises(InvalidIdentifierError) as caught:
        # A deliberately ill-typed call: the runtime check is what is under test.
        indexer.of_normalised("postal", "1 rue de la Paix")  # type: ignore[arg-type]
    assert caught.value.field == "kind"


def test_indexing_an_invalid_email_raises(indexer: BlindIndexer) -> None:
    with pytest.raises(InvalidIdentifierError):
        indexer.email("not-an-address")


@pytest.mark.parametrize("key", [b"", b"short", bytes(31)])
def test_a_key_shorter_than_32_bytes_is_refused(key: bytes) -> None:
    with pytest.raises(BlindIndexKeyError):
        BlindIndexer(key)


def test_a_text_key_is_refused() -> None:
    with pytest.raises(BlindIndexKeyError):
        # A deliberately ill-typed call: the runtime check is what is under test.
        BlindIndexer("x" * 40)  # type: ignore[arg-type]


def test_the_key_does_not_appear_in_the_repr(indexer: BlindIndexer) -> None:
    assert KEY.hex() not in repr(indexer) and str(KEY) not in repr(indexer)


def test_indexing_one_hundred_thousand_emails_takes_well_under_a_few_seconds(indexer: BlindIndexer) -> None:
    emails = [f"  Person.{n}@Example{n % 97}.COM " for n in range(100_000)]
    started = time.perf_counter()
    indexes = {indexer.email(value) for value in emails}
    elapsed = time.perf_counter() - started
    assert len(indexes) == 100_000
    # A generous bound: on a laptop this takes a fraction of a second; the point is no per-value rekeying.
    assert elapsed < 5.0


_PREVIOUS_LABEL = re.compile(r"^[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?$")


def _previous_normalise_email(value: str, *, field: str = "email") -> str:
    """The implementation before the precompiled whitespace and domain patterns (the reference)."""
    if not isinstance(value, str):
        raise InvalidIdentifierError(field, "must be a string")
    address = unicodedata.normalize("NFC", value.strip()).lower()
    if not address:
        raise InvalidIdentifierError(field, "is empty")
    if len(address) > 254:
        raise InvalidIdentifierError(field, "is longer than 254 characters")
    if any(char.isspace() for char in address):
        raise InvalidIdentifierError(field, "contains whitespace")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise InvalidIdentifierError(field, "is not of the form local@domain")
    if "@" in local:
        raise InvalidIdentifierError(field, "contains more than one @")
    if len(local) > 64:
        raise InvalidIdentifierError(field, "has a local part longer than 64")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidIdentifierError(field, "has a misplaced dot in the local part")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_PREVIOUS_LABEL.match(part) for part in labels):
        raise InvalidIdentifierError(field, "has an invalid domain")
    return address


def _outcome(function: object, value: object) -> tuple[str, str]:
    try:
        return ("ok", function(value))  # type: ignore[operator]
    except InvalidIdentifierError as error:
        return ("error", f"{error.field}|{error.reason}")


def test_every_code_point_str_isspace_accepts_counts_as_whitespace_in_an_address_and_no_other() -> None:
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        value = f"a{char}b@example.com"
        assert _outcome(normalise_email, value) == _outcome(_previous_normalise_email, value), hex(code)


def test_email_normalisation_gives_the_previous_implementations_results_and_errors() -> None:
    rng = random.Random(15)
    whitespace = " \t\n\r\x0b\x0c\x1c\x85\xa0\u1680\u2000\u2007\u200a\u2028\u2029\u202f\u205f\u3000"
    pieces = [
        *"abcXYZ019.-_+@",
        "é",
        "É",
        "e\u0301",
        "ß",
        "İ",
        "ǅ",
        "ﬃ",
        "日本",
        "münchen",
        "xn--mnchen-3ya",
        "пример",
        "例え",
        "٣",
        "\u200b",
        "\ufeff",
        "😀",
        "..",
        "@@",
        "a" * 63,
        "b" * 64,
        "-",
        *whitespace,
    ]
    values = ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12))) for _ in range(20000)]
    locals_ = ["alice", "Alice.Martin+tag", "a.b", ".a", "a.", "a..b", "x" * 64, "x" * 65, "Zé", "ü+1"]
    domains = [
        "example.com",
        "Example.COM",
        "münchen.de",
        "xn--mnchen-3ya.de",
        "пример.рф",
        "例え.テスト",
        "a.b",
        "localhost",
        "-a.com",
        "a-.com",
        "a_b.com",
        "a..com",
        ".com",
        "com.",
        "a" * 63 + ".com",
        "a" * 64 + ".com",
        "a-b-c.d-e",
        "x.y.z.w",
        "1.2.3.4",
        "٣.com",
    ]
    for local in locals_:
        for domain in domains:
            for around in ("", " ", "\u3000", "\n"):
                values.append(f"{around}{local}@{domain}{around}")
    values += ["a@" + "b." * 130 + "com", "a@b.c" + "c" * 250, "", "   ", "@", "a@b@c.d"]
    outcomes = {"ok": 0, "error": 0}
    for value in values:
        new = _outcome(normalise_email, value)
        assert new == _outcome(_previous_normalise_email, value), repr(value)
        outcomes[new[0]] += 1
    assert outcomes["ok"] > 200 and outcomes["error"] > 2000
    assert _outcome(normalise_email, None) == _outcome(_previous_normalise_email, None)
