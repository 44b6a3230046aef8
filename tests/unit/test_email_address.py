"""An applicant's email field holds exactly one bare address: a list would send the citizen's
messages, one-time codes included, to whoever wrote the second address."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.schemas import ApplicantIn
from shared.email_address import check_email_address
from shared.events import Applicant

NOT_ONE_ADDRESS = [
    ("an@example.vn,binh@example.vn", "not a list"),
    ("an@example.vn, binh@example.vn", "not a list"),
    ("an@example.vn;binh@example.vn", "not a list"),
    ("an@example.vn binh@example.vn", "without a name or spaces"),
    ("Nguyễn Văn An <an@example.vn>", "without a name or spaces"),
    ("<an@example.vn>", "without a name"),
    ('"an"@example.vn', "mailbox name"),
    ("an@binh@example.vn", "exactly one @"),
    ("an.example.vn", "exactly one @"),
    ("an@example", "domain name"),
    ("an@example..vn", "domain name"),
    ("an@-example.vn", "domain name"),
    ("an@example.v1", "top-level domain"),
    (".an@example.vn", "mailbox name"),
    ("an..binh@example.vn", "mailbox name"),
    ("@example.vn", "mailbox name"),
    ("an\n@example.vn", "spaces"),
    ("a" * 65 + "@example.vn", "mailbox name"),
    ("an@" + "a" * 250 + ".vn", "at most 254"),
]


@pytest.mark.parametrize(("value", "reason"), NOT_ONE_ADDRESS)
def test_anything_but_one_bare_address_is_refused_saying_why(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_email_address(value)


@pytest.mark.parametrize(
    "value", ["an@example.vn", "  an.nguyen+hoso@so-tu-phap.danang.gov.vn ", "o'brien@example.com"]
)
def test_one_address_is_taken_without_its_surrounding_blanks(value: str) -> None:
    assert check_email_address(value) == value.strip()


APPLICANT = {
    "full_name": "Nguyễn Văn An",
    "id_number": "049090001234",
    "phone": "0905123456",
    "address": "12 Lê Lợi, Hải Châu, Đà Nẵng",
}


@pytest.mark.parametrize(("value", "reason"), NOT_ONE_ADDRESS[:8])
def test_the_submission_form_refuses_several_addresses(value: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        ApplicantIn.model_validate({**APPLICANT, "email": value})


def test_the_submission_form_takes_one_address_or_none() -> None:
    assert ApplicantIn.model_validate({**APPLICANT, "email": " an@example.vn "}).email == "an@example.vn"
    assert ApplicantIn.model_validate({**APPLICANT, "email": "  "}).email is None


def test_an_event_from_before_the_rule_still_parses_but_its_list_is_never_written_to() -> None:
    older = Applicant(full_name="An", id_number="049090001234", email="an@example.vn, x@attacker.example")
    assert older.email is None
    assert Applicant(full_name="An", id_number="049090001234", email="an@example.vn").email == "an@example.vn"
