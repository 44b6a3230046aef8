"""The seed catalog and directory look like what a province runs, and a procedure version only
exists when its step allotments add up to its time limit."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.processing.catalog import InvalidProcedure, ProcedureDraft, build_procedure
from services.processing.seed import (
    SEED_AGENCIES,
    SEED_PEOPLE,
    SEED_UNITS,
    seed_catalog,
    seed_drafts,
    username_slug,
)
from services.processing.working_calendar import public_holidays
from shared.events import ProcedureStep, RequiredDocument, TimeLimit

SYT_AGENCY = "000.00.12.H56"  # Sở Y tế
PROVINCE_OFFICE_AGENCY = "000.00.01.H56"  # Văn phòng UBND tỉnh
CATALOG = {procedure.code: procedure for procedure in seed_catalog(demo=True)}
UNITS = {unit.code: unit for unit in SEED_UNITS}


def draft(**changes: object) -> ProcedureDraft:
    fields: dict[str, object] = {
        "code": "9.000001",
        "name": "Thủ tục thử",
        "field": "Thử",
        "agency_code": SYT_AGENCY,
        "level": "partial",
        "time_limit": TimeLimit(value=1, unit="working_day"),
        "documents": [RequiredDocument(name="Đơn")],
        "steps": [
            ProcedureStep(name="Tiếp nhận", unit_code="H56.SYT.MOTCUA", hours=2),
            ProcedureStep(name="Xử lý", unit_code="H56.SYT.BTXH", hours=6),
            ProcedureStep(name="Trả kết quả", unit_code="H56.SYT.MOTCUA", hours=0, counted=False),
        ],
    }
    return ProcedureDraft.model_validate({**fields, **changes})


def test_seed_runs_real_procedures_of_several_agencies() -> None:
    real = [procedure for code, procedure in CATALOG.items() if code != "DEMO-SLA"]
    assert len(real) >= 6
    assert len({procedure.agency_code for procedure in real}) >= 2
    assert any(procedure.total_hours <= 8 for procedure in real), "a same-day procedure"
    assert any(procedure.supplement_policy == "restart" for procedure in real)
    assert CATALOG["1.012994"].supplement_policy == "restart"
    assert len(CATALOG) == len(seed_drafts(demo=True))


def test_every_seed_procedure_starts_at_its_agencys_desk_and_uses_known_units() -> None:
    for procedure in CATALOG.values():
        first = UNITS[procedure.steps[0].unit_code]
        assert first.receives_dossiers and first.agency_code == procedure.agency_code, procedure.code
        assert {step.unit_code for step in procedure.steps} <= UNITS.keys(), procedure.code
        assert procedure.supplement_days > 0 and procedure.stall_hours > 0, procedure.code
        counted = sum(step.hours for step in procedure.steps if step.counted)
        assert counted == pytest.approx(procedure.total_hours), procedure.code


def test_the_social_assistance_facility_procedure_crosses_to_the_province_office() -> None:
    procedure = CATALOG["1.013814"]
    assert procedure.name.startswith("Cấp, cấp lại, điều chỉnh giấy chứng nhận đăng ký thành lập")
    assert procedure.agency_code == SYT_AGENCY and procedure.agency_name == "Sở Y tế"
    assert procedure.total_hours == 5 * 8 and procedure.calendar == "working"
    agencies = [UNITS[step.unit_code].agency_code for step in procedure.steps]
    assert agencies == [SYT_AGENCY] * 6 + [PROVINCE_OFFICE_AGENCY] * 2 + [SYT_AGENCY]
    assert [step.hours / 8 for step in procedure.steps] == [0.25, 0.25, 1.5, 0.5, 0.5, 0.25, 1.5, 0.25, 0]
    assert [step.counted for step in procedure.steps] == [True] * 8 + [False]
    assert procedure.steps[-1].unit_code == procedure.steps[0].unit_code == "H56.SYT.MOTCUA"


def test_every_seed_unit_has_an_officer_and_a_manager_and_every_agency_a_leader() -> None:
    people = {person.username: person for person in SEED_PEOPLE}
    assert len(people) == len(SEED_PEOPLE)
    for unit in SEED_UNITS:
        for role in ("officer", "manager"):
            person = people[f"{username_slug(unit.code)}-{role}"]
            assert (person.role, person.unit_code, person.agency_code, person.active) == (
                role,
                unit.code,
                unit.agency_code,
                True,
            )
    for agency in SEED_AGENCIES:
        leader = people[f"{username_slug(agency.code)}-leader"]
        assert (leader.role, leader.agency_code) == ("leader", agency.code)
    step_units = {step.unit_code for procedure in CATALOG.values() for step in procedure.steps}
    officers = {person.unit_code for person in SEED_PEOPLE if person.role == "officer" and person.active}
    assert step_units <= officers
    assert username_slug("H56.SYT.BTXH") == "h56-syt-btxh"
    assert username_slug("000.00.12.H56") == "000-00-12-h56"


def test_the_demo_users_stay_as_they_were() -> None:
    people = {person.username: person for person in SEED_PEOPLE}
    expected = {
        "demo-officer": ("officer", "000.00.06.H56", "H56.HC.MOTCUA"),
        "demo-manager": ("manager", "000.00.06.H56", "H56.HC.MOTCUA"),
        "demo-leader": ("leader", "000.00.06.H56", "H56.HC.LD"),
        "demo-admin": ("admin", None, None),
        "syt-officer": ("officer", "000.00.12.H56", "H56.SYT.MOTCUA"),
    }
    for username, placement in expected.items():
        person = people[username]
        assert (person.role, person.agency_code, person.unit_code) == placement


def test_a_version_is_built_with_its_total_calendar_and_agency_name() -> None:
    procedure = build_procedure(draft=draft(), agency_name="Sở Y tế", version=3)
    assert (procedure.version, procedure.total_hours, procedure.calendar) == (3, 8, "working")
    assert procedure.agency_name == "Sở Y tế" and procedure.supplement_policy == "pause"
    minutes = build_procedure(
        draft=draft(
            time_limit=TimeLimit(value=30, unit="minute"),
            steps=[ProcedureStep(name="Tiếp nhận", unit_code="H56.SYT.MOTCUA", hours=0.5)],
        ),
        agency_name="Sở Y tế",
    )
    assert (minutes.total_hours, minutes.calendar) == (0.5, "always")
    calendar_days = build_procedure(
        draft=draft(
            time_limit=TimeLimit(value=2, unit="calendar_day"),
            steps=[ProcedureStep(name="Tiếp nhận", unit_code="H56.SYT.MOTCUA", hours=16)],
        ),
        agency_name="Sở Y tế",
    )
    assert (calendar_days.total_hours, calendar_days.calendar) == (16, "calendar_days")


def test_allotments_that_do_not_add_up_are_refused_with_both_sums() -> None:
    steps = [
        ProcedureStep(name="Tiếp nhận", unit_code="H56.SYT.MOTCUA", hours=2),
        ProcedureStep(name="Xử lý", unit_code="H56.SYT.BTXH", hours=5),
        ProcedureStep(name="Trả kết quả", unit_code="H56.SYT.MOTCUA", hours=4, counted=False),
    ]
    with pytest.raises(InvalidProcedure, match=r"allot 7 h \(2 \+ 5\).*is 8 h"):
        build_procedure(draft=draft(steps=steps), agency_name="Sở Y tế")


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (
            {
                "time_limit": TimeLimit(value=0, unit="working_day"),
                "steps": [ProcedureStep(name="Tiếp nhận", unit_code="H56.SYT.MOTCUA", hours=0)],
            },
            "time limit",
        ),
        (
            {"steps": [ProcedureStep(name="Tiếp nhận", unit_code="H56.SYT.MOTCUA", hours=-8)]},
            "negative",
        ),
        ({"documents": [RequiredDocument(name="Đơn"), RequiredDocument(name="đơn ")]}, "more than once"),
    ],
)
def test_broken_drafts_are_refused(changes: dict[str, object], words: str) -> None:
    with pytest.raises((InvalidProcedure, ValidationError), match=words):
        build_procedure(draft=draft(**changes), agency_name="Sở Y tế")


@pytest.mark.parametrize(
    "changes",
    [
        {
            "time_limit": TimeLimit(value=1e9, unit="working_day"),
            "steps": [ProcedureStep(name="Tiếp nhận", unit_code="H56.SYT.MOTCUA", hours=8e9)],
        },
        {"supplement_days": 1e9},
        {"stall_hours": 1e12},
        {"escalation_hours": [4.0, 1e12]},
        {
            "steps": [
                ProcedureStep(name="Tiếp nhận", unit_code="H56.SYT.MOTCUA", hours=8),
                ProcedureStep(name="Trả kết quả", unit_code="H56.SYT.MOTCUA", hours=1e12, counted=False),
            ]
        },
    ],
)
def test_a_duration_no_calendar_can_count_to_is_refused(changes: dict[str, object]) -> None:
    """Deadlines are counted from these; past a date's range, accepting a dossier of the procedure
    failed with a server error."""
    with pytest.raises(InvalidProcedure, match="longer than"):
        build_procedure(draft=draft(**changes), agency_name="Sở Y tế")


def test_a_draft_names_only_what_an_admin_decides() -> None:
    with pytest.raises(ValidationError, match="total_hours"):
        draft(total_hours=8)
    with pytest.raises(ValidationError, match="steps"):
        draft(steps=[])
    with pytest.raises(ValidationError, match="supplement_policy"):
        draft(supplement_policy="never")


def test_public_holidays_of_a_year_are_listed_in_vietnamese_with_make_up_days() -> None:
    days_off, workdays = public_holidays(2026)
    names = {holiday.day: holiday.name for holiday in days_off}
    assert names[date(2026, 9, 2)] == "Quốc khánh"
    assert date(2026, 2, 17) in names
    assert all(day.year == 2026 for day in names)
    assert workdays == [date(2026, 8, 22)]
