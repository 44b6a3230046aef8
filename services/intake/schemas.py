"""What intake's API reads and answers: the citizen's requests, checked as they arrive, and the
citizen's view of a dossier, with every instant on Vietnam's clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from services.intake.citizen_id import validate_citizen_id
from shared.email_address import check_email_address
from shared.events import DocumentKind, Rating
from shared.vietnam_time import shown_in_vietnam

PHONE_DIGITS = (10, 11)

Loc = tuple[str | int, ...]
SUBMISSION_DOCUMENTS: Loc = ("body", "documents")

KIND_LABELS: dict[str, str] = {"digital": "Bản điện tử", "scan": "Bản số hóa", "reused": "Tái sử dụng"}
RATING_LABELS: dict[str, str] = {
    "very_satisfied": "Rất hài lòng",
    "satisfied": "Hài lòng",
    "dissatisfied": "Không hài lòng",
}


# -- requests -----------------------------------------------------------------------------------
class ApplicantIn(BaseModel):
    full_name: str = Field(min_length=2, max_length=200)
    id_number: str = Field(description="CCCD: 12 digits")
    phone: str = Field(min_length=9, max_length=15)
    email: str | None = Field(default=None, max_length=254)
    address: str = Field(min_length=3, max_length=500)

    @field_validator("full_name", "address")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value) < 2:
            raise ValueError("must not be blank")
        return value

    @field_validator("id_number")
    @classmethod
    def _citizen_id(cls, value: str) -> str:
        return validate_citizen_id(value.strip())

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        digits = value.replace(" ", "").replace(".", "").replace("-", "")
        if digits.startswith("+84"):
            digits = "0" + digits[3:]
        if not digits.isdigit() or not digits.startswith("0") or len(digits) not in PHONE_DIGITS:
            raise ValueError("a Vietnamese phone number has 10 digits starting with 0 (or +84)")
        return digits

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return check_email_address(value)


class DocumentIn(BaseModel):
    name: str = Field(min_length=1, max_length=300)
    kind: DocumentKind = "digital"
    reused_from: str | None = Field(
        default=None,
        max_length=40,
        validate_default=True,
        description="for a reused document: the code of the applicant's earlier dossier that holds it",
    )

    @field_validator("reused_from")
    @classmethod
    def _reused_names_its_dossier(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value.strip() if value else None
        kind = info.data.get("kind")
        if kind == "reused" and not value:
            raise ValueError("a reused document names the earlier dossier it comes from (its code)")
        if kind is not None and kind != "reused" and value:
            raise ValueError('only a document of kind "reused" comes from an earlier dossier')
        return value or None


class SubmissionIn(BaseModel):
    procedure_code: str = Field(min_length=1, max_length=40)
    applicant: ApplicantIn
    documents: list[DocumentIn] = Field(default_factory=list, max_length=50)
    channel: Literal["online", "counter"] = "online"


class SupplementIn(BaseModel):
    """What the citizen sends when asked to complete the dossier (bổ sung hồ sơ)."""

    note: str | None = Field(default=None, max_length=2000)
    documents: list[DocumentIn] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _something_to_send(self) -> SupplementIn:
        if self.note is not None and not self.note.strip():
            self.note = None
        if not self.documents and self.note is None:
            raise ValueError("a supplement carries at least one document or a note")
        return self


class WithdrawalIn(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


class RatingIn(BaseModel):
    rating: Rating
    reason: str | None = Field(default=None, max_length=2000, validate_default=True)

    @field_validator("reason")
    @classmethod
    def _reason_when_dissatisfied(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value.strip() if value else None
        if info.data.get("rating") == "dissatisfied" and not value:
            raise ValueError("a reason is required when the citizen is dissatisfied (không hài lòng)")
        return value or None


# -- responses ----------------------------------------------------------------------------------
class ShownInVietnam(BaseModel):
    """A response whose instants are read on Vietnam's clock, whatever zone they were stored in."""

    @model_validator(mode="after")
    def _in_vietnam(self) -> Self:
        return shown_in_vietnam(self)


class DocumentPublic(ShownInVietnam):
    name: str
    kind: str
    kind_label: str
    origin: str | None = None
    media_type: str | None = None
    size: int | None = None
    filename: str | None = None
    sha256: str | None = None
    reused_from: str | None = None
    added_at: datetime | None = None


class HistoryEntryPublic(ShownInVietnam):
    at: datetime
    event_type: str
    status: int
    status_label: str
    note: str | None = None


class DossierPublic(ShownInVietnam):
    """What the citizen sees of a dossier (see ``views.public_view``)."""

    code: str
    status: int
    status_name: str
    status_label: str
    procedure_code: str
    procedure_name: str
    agency_code: str
    channel: str
    submitted_at: datetime
    accepted_at: datetime | None
    due_at: datetime | None
    current_step: str | None
    status_note: str | None
    supplement_items: list[str] | None
    supplement_deadline_at: datetime | None
    resolved_at: datetime | None
    result_name: str | None
    # The result is a PDF the citizen downloads from the portal (kết quả điện tử).
    result_electronic: bool = False
    timeliness: str | None
    returned_at: datetime | None
    supplement_provided_at: datetime | None
    withdrawal_requested_at: datetime | None
    rating: str | None
    rated_at: datetime | None
    # Dossiers from before documents had rows of their own keep their list in the dossier row.
    documents: list[DocumentPublic] | list[dict[str, Any]]
    history: list[HistoryEntryPublic]


class LookupPublic(ShownInVietnam):
    """What a dossier code and CCCD show before a session: the status and the due date only."""

    code: str
    status: int
    status_name: str
    status_label: str
    due_at: datetime | None
    procedure_code: str
    procedure_name: str
