"""The guardrail detectors, one by one: what each must find (true positives, in the shapes people
write them) and what it must not (dates, prices, order numbers, versions, UUIDs, hashes, numbers
that fail their checksum)."""

from __future__ import annotations

import pytest

from gateway.guard.detectors import BUILTIN, custom, iban_ok, luhn
from gateway.guard.scanner import Scanner

HARD_NEGATIVES = [
    "Released 2024-03-15 at 10:20:30Z; 01/02/2024 and 15.03.2024 too.",
    "It costs $1,249.99 (or 1 249,99 EUR), 12% off: 1,099.00.",
    "Order 100234 and order #4829-1173-55 shipped; invoice 2024-000117.",
    "Upgrade to v2.14.3, 1.0.0-rc.1 or 10.2.0.4096-beta.",
    "Request id 123e4567-e89b-12d3-a456-426614174000 failed.",
    "The 16-digit number 4111 1111 1111 1112 fails the Luhn check.",
    "Timestamp 1700000000000 and pi 3.14159265358979 and sha a94a8fe5ccb19ba61c4c0873d391e987982fbbd3.",
    "@property def name(self): return self._name  # decorators are not addresses",
    "git clone git@github.com:acme/billing.git and npm i @types/node@20.1.0",
    "The task-scheduler-service-for-billing-runs is not a key.",
    "Call me on extension 4321, room 101.",
]


def found(detector: str, text: str) -> list[str]:
    return [text[s.start:s.end] for s in BUILTIN[detector].find(text)]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_no_detector_finds_anything_in_hard_negatives(text: str) -> None:
    assert Scanner(tuple(BUILTIN[d] for d in BUILTIN if d != "ipv4")).find(text) == ()


@pytest.mark.parametrize("value", ["dana.miller@example.com", "j.o'neil+billing@mail.example.co.uk".replace("'", ""),
                                   "ops_team-2@sub.domain.io", "A1@b.de"])
def test_email(value: str) -> None:
    assert found("email", f"Write to {value}, please.") == [value]
    assert found("email", f"<{value}>") == [value]


@pytest.mark.parametrize("text", ["user@localhost", "name@domain", "@handle", "a@b.c", "x@1.2.3.4"])
def test_email_negatives(text: str) -> None:
    assert found("email", text) == []


@pytest.mark.parametrize("value", ["+44 20 7946 0958", "+1 (555) 123-4567", "+49 30 123456789", "+33 6 12 34 56 78",
                                   "+14155550123", "(555) 123-4567", "555-123-4567", "555.123.4567",
                                   "020 7946 0958", "06 12 34 56 78", "030/12345678"])
def test_phone(value: str) -> None:
    assert found("phone", f"Call {value} today.") == [value]


@pytest.mark.parametrize("text", ["1234567890", "2024-03-15", "+1 2", "v1.555.123.4567", "555-123-45678",
                                  "123-456-7890", "15.03.2024", "1.234.567", "+12%"])
def test_phone_negatives(text: str) -> None:
    assert found("phone", text) == []


@pytest.mark.parametrize("value", ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111",
                                   "5500 0000 0000 0004", "3782 822463 10005", "6011111111111117", "4222222222222"])
def test_card(value: str) -> None:
    assert luhn(value.replace(" ", "").replace("-", ""))
    assert found("card", f"Card: {value}.") == [value]


@pytest.mark.parametrize("text", ["4111 1111 1111 1112", "1234567890123456", "4111111111111111111111",
                                  "0000 0000 0000 0000", "order 7992739871", "4111.1111.1111.1111",
                                  "1.4111111111111111"])
def test_card_negatives(text: str) -> None:
    assert found("card", text) == []


@pytest.mark.parametrize("value", ["DE89 3704 0044 0532 0130 00", "DE89370400440532013000",
                                   "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432",
                                   "FR14 2004 1010 0505 0001 3M02 606", "NL91 ABNA 0417 1643 00"])
def test_iban(value: str) -> None:
    assert iban_ok(value)
    assert found("iban", f"IBAN: {value}, thanks") == [value]


@pytest.mark.parametrize("text", ["DE89 3704 0044 0532 0130 01", "GB82WEST12345698765433", "AB12 3456 7890 1234",
                                  "ISO 8601 2024 0315 1020"])
def test_iban_negatives(text: str) -> None:
    assert found("iban", text) == []


def test_ssn() -> None:
    assert found("ssn", "SSN 123-45-6789.") == ["123-45-6789"]
    for text in ("000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567", "123-45-0000", "1123-45-6789",
                 "123-45-67890", "2024-01-15", "123456789"):
        assert found("ssn", text) == [], text


def test_ipv4() -> None:
    assert found("ipv4", "host 192.168.1.20, gateway 10.0.0.1.") == ["192.168.1.20", "10.0.0.1"]
    for text in ("999.1.1.1", "1.2.3", "v1.2.3.4", "01.2.3.4", "1.2.3.4.5", "3.14159"):
        assert found("ipv4", text) == [], text


@pytest.mark.parametrize("value", [
    "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1w", "sk-ant-api03-Xy7_Zq2-Wv9uTs4RqPo1NmLkJi8Hg", "AKIAIOSFODNN7EXAMPLE",
    "ASIAY34FZKBOKMUTVV7A", "ghp_" + "aB3" * 12, "github_pat_11ABCDEFG0123456789_abcdefghijKLMNOP",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKl", "xoxp-1234567890-abcdefghij", "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
])
def test_secret(value: str) -> None:
    assert found("secret", f"token={value}\n") == [value]
    assert found("secret", f'"{value}"') == [value]


def test_pem_private_key_block_and_a_cut_one() -> None:
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7x\nq9Zt==\n-----END RSA PRIVATE KEY-----"
    assert found("secret", f"key:\n{block}\nthanks") == [block]
    cut = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAAB"
    assert found("secret", cut) == [cut]
    assert found("secret", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----") == []


@pytest.mark.parametrize("text", ["sk-learn is a library", "the desk-organizer-with-drawers-and-shelves",
                                  "AKIA123", "task_AKIAIOSFODNN7EXAMPLE", "xox-o", "eyJhbGciOiJIUzI1NiJ9 alone",
                                  "sk-this-is-just-a-long-hyphenated-slug"])
def test_secret_negatives(text: str) -> None:
    assert found("secret", text) == []


def test_custom_detector_and_its_checks() -> None:
    detector = custom("employee_id", r"EMP-[0-9]{6}")
    assert [(s.start, s.end, s.detector) for s in detector.find("ids EMP-123456 and EMP-12")] == [(4, 14, "employee_id")]
    with pytest.raises(ValueError):
        custom("empty", r"x*")


def test_scanner_merges_overlaps_longest_first_and_finds_the_same_alone_or_joined() -> None:
    scanner = Scanner(tuple(BUILTIN.values()))
    text = "Pay 4111 1111 1111 1111 from DE89 3704 0044 0532 0130 00, mail a@b.io, call +1 555 123 4567."
    spans = scanner.find(text)
    assert [(s.detector, text[s.start:s.end]) for s in spans] == [
        ("card", "4111 1111 1111 1111"), ("iban", "DE89 3704 0044 0532 0130 00"), ("email", "a@b.io"),
        ("phone", "+1 555 123 4567")]
    texts = [text, "nothing here", "", "ssn 123-45-6789", text]
    scanner.clear()
    assert scanner.find_all(texts) == [scanner.find(t) for t in texts]
