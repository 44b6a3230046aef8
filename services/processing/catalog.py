"""The procedure catalog, which processing owns, and the seed catalog of real procedures.

Step allotments come from the provinces' published internal workflows (quy trình nội bộ, 2025).
"""

from __future__ import annotations

import math
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.directory import DEMO_AGENCY, SEED_AGENCIES
from services.processing.models import Procedure
from shared.bus.outbox import Outbox
from shared.events import (
    CalendarKind,
    ProcedurePublished,
    ProcedureStep,
    ProcedureVersion,
    RequiredDocument,
    TimeLimit,
    utc_now,
)
from shared.working_time import HOURS_PER_DAY

SYT = "000.00.12.H56"


class InvalidProcedure(ValueError):
    pass


def total_hours(limit: TimeLimit) -> float:
    """The time limit as a duration in the calendar's hours (8 h = 1 day)."""
    factors = {
        "working_day": HOURS_PER_DAY,
        "calendar_day": HOURS_PER_DAY,
        "working_hour": 1,
        "minute": 1 / 60,
    }
    return limit.value * factors[limit.unit]


def calendar_kind(limit: TimeLimit) -> CalendarKind:
    if limit.unit == "calendar_day":
        return "calendar_days"
    if limit.unit == "minute":
        return "always"
    return "working"


def build_procedure(
    *,
    code: str,
    name: str,
    field: str,
    agency_code: str,
    level: str,
    fee: str,
    time_limit: TimeLimit,
    documents: list[RequiredDocument],
    steps: list[ProcedureStep],
    version: int = 1,
) -> ProcedureVersion:
    """A procedure version whose counted step allotments add up to its time limit."""
    hours = total_hours(time_limit)
    allotted = sum(step.hours for step in steps if step.counted)
    if not math.isclose(allotted, hours, abs_tol=1 / 120):
        raise InvalidProcedure(f"{code}: steps allot {allotted:g} h but the time limit is {hours:g} h")
    if not steps:
        raise InvalidProcedure(f"{code}: a procedure needs at least one step")
    agencies = {agency.code: agency.name for agency in SEED_AGENCIES}
    return ProcedureVersion.model_validate(
        {
            "code": code,
            "version": version,
            "name": name,
            "field": field,
            "agency_code": agency_code,
            "agency_name": agencies.get(agency_code, agency_code),
            "level": level,
            "fee": fee,
            "time_limit": time_limit,
            "total_hours": hours,
            "calendar": calendar_kind(time_limit),
            "documents": documents,
            "steps": steps,
        }
    )


def _days(value: float) -> TimeLimit:
    return TimeLimit(value=value, unit="working_day")


def _step(name: str, unit_code: str, days: float, *, counted: bool = True) -> ProcedureStep:
    return ProcedureStep(name=name, unit_code=unit_code, hours=days * HOURS_PER_DAY, counted=counted)


def _doc(name: str, *, required: bool = True, originals: int = 1, copies: int = 0) -> RequiredDocument:
    return RequiredDocument(name=name, required=required, originals=originals, copies=copies)


RETURN_RESULT = "Trả kết quả"


def seed_catalog() -> list[ProcedureVersion]:
    commune_desk, commune_leader, commune_clerk = "H56.HC.MOTCUA", "H56.HC.LD", "H56.HC.VT"
    return [
        build_procedure(
            code="1.001193",
            name="Đăng ký khai sinh",
            field="Hộ tịch",
            agency_code=DEMO_AGENCY,
            level="full",
            fee="Miễn lệ phí khi đăng ký đúng hạn",
            # Same day; a dossier received after 15:00 is due the next working day.
            time_limit=_days(0.5),
            documents=[
                _doc("Tờ khai đăng ký khai sinh"),
                _doc("Giấy chứng sinh hoặc văn bản của người làm chứng", required=False),
            ],
            steps=[
                _step("Tiếp nhận, kiểm tra hồ sơ", commune_desk, 0.125),
                _step("Thẩm tra, ghi sổ hộ tịch", "H56.HC.TUPHAP", 0.25),
                _step("Ký giấy khai sinh", commune_leader, 0.0625),
                _step("Đóng dấu, vào sổ", commune_clerk, 0.0625),
                _step(RETURN_RESULT, commune_desk, 0, counted=False),
            ],
        ),
        build_procedure(
            code="2.000815",
            name="Chứng thực bản sao từ bản chính giấy tờ, văn bản",
            field="Chứng thực",
            agency_code=DEMO_AGENCY,
            level="partial",
            fee="2.000 đ/trang; từ trang thứ ba 1.000 đ/trang; tối đa 200.000 đ/bản",
            time_limit=_days(0.5),
            documents=[_doc("Bản chính giấy tờ, văn bản cần chứng thực"), _doc("Bản sao cần chứng thực")],
            steps=[
                _step("Tiếp nhận, kiểm tra bản chính", commune_desk, 0.125),
                _step("Đối chiếu, ghi lời chứng", "H56.HC.TUPHAP", 0.25),
                _step("Ký chứng thực", commune_leader, 0.0625),
                _step("Đóng dấu, vào sổ", commune_clerk, 0.0625),
                _step(RETURN_RESULT, commune_desk, 0, counted=False),
            ],
        ),
        build_procedure(
            code="1.004944",
            name="Thôi nhận chăm sóc thay thế cho trẻ em",
            field="Trẻ em",
            agency_code=DEMO_AGENCY,
            level="partial",
            fee="Không",
            time_limit=_days(5),
            documents=[_doc("Tờ khai đề nghị thôi nhận chăm sóc thay thế")],
            steps=[
                _step("Tiếp nhận hồ sơ", commune_desk, 0.5),
                _step("Phân công xử lý", "H56.HC.VHXH", 0.5),
                _step("Thẩm định, dự thảo kết quả", "H56.HC.VHXH", 2),
                _step("Xem xét, trình ký", "H56.HC.VHXH", 0.5),
                _step("Phê duyệt", commune_leader, 1),
                _step("Vào sổ, đóng dấu", commune_clerk, 0.5),
                _step(RETURN_RESULT, commune_desk, 0, counted=False),
            ],
        ),
        build_procedure(
            code="3.000527.H61",
            name="Đăng ký cai nghiện ma túy tự nguyện",
            field="Phòng, chống tệ nạn xã hội",
            agency_code=DEMO_AGENCY,
            level="partial",
            fee="Không",
            time_limit=_days(3),
            documents=[
                _doc("Đơn đăng ký cai nghiện ma túy tự nguyện (Mẫu 22, Nghị định 116/2021)"),
                _doc("Bản sao kết quả xác định tình trạng nghiện", originals=0, copies=1),
                _doc("Bản sao giấy tờ tùy thân", originals=0, copies=1),
            ],
            steps=[
                _step("Hướng dẫn, tiếp nhận, số hóa", commune_desk, 0.25),
                _step("Kiểm tra, vào sổ", "H56.HC.CA", 0.25),
                _step("Thẩm định, trình", "H56.HC.CA", 1),
                _step("Phê duyệt", commune_leader, 1),
                _step("Đóng dấu, phát hành", commune_clerk, 0.25),
                _step(RETURN_RESULT, commune_desk, 0.25),
            ],
        ),
        build_procedure(
            code="1.012994",
            name="Khấu trừ kinh phí bồi thường, giải phóng mặt bằng vào tiền sử dụng đất phải nộp",
            field="Đất đai",
            agency_code=DEMO_AGENCY,
            level="full",
            fee="Không",
            time_limit=TimeLimit(value=168, unit="working_hour"),
            documents=[
                _doc("Đơn đề nghị khấu trừ"),
                _doc("Bản sao quyết định phê duyệt phương án bồi thường", originals=0, copies=1),
            ],
            steps=[
                ProcedureStep(name="Kiểm tra, tiếp nhận", unit_code=commune_desk, hours=4),
                ProcedureStep(name="Phân công", unit_code="H56.HC.KT", hours=4),
                ProcedureStep(name="Thẩm định, dự thảo kết quả", unit_code="H56.HC.KT", hours=112),
                ProcedureStep(name="Kiểm tra, xác nhận", unit_code="H56.HC.KT", hours=24),
                ProcedureStep(name="Ký xác nhận", unit_code=commune_leader, hours=16),
                ProcedureStep(name="Vào sổ, gửi cơ quan thuế", unit_code=commune_clerk, hours=8),
                ProcedureStep(name=RETURN_RESULT, unit_code=commune_desk, hours=0, counted=False),
            ],
        ),
        build_procedure(
            code="1.001806",
            name="Công nhận doanh nghiệp sử dụng từ 30% tổng số lao động trở lên là người khuyết tật",
            field="Bảo trợ xã hội",
            agency_code=SYT,
            level="partial",
            fee="Không",
            time_limit=_days(10),
            documents=[
                _doc("Văn bản đề nghị công nhận"),
                _doc("Danh sách lao động là người khuyết tật", originals=1),
                _doc("Bản sao giấy xác nhận khuyết tật", originals=0, copies=1),
            ],
            steps=[
                _step("Tiếp nhận, số hóa, chuyển hồ sơ", "H56.SYT.MOTCUA", 0.5),
                _step("Phân công", "H56.SYT.BTXH", 0.5),
                _step("Thẩm định, dự thảo", "H56.SYT.BTXH", 7),
                _step("Xem xét, trình lãnh đạo Sở", "H56.SYT.BTXH", 0.5),
                _step("Phê duyệt", "H56.SYT.LD", 1),
                _step("Vào sổ, đóng dấu, gửi kết quả", "H56.SYT.VT", 0.5),
                _step(RETURN_RESULT, "H56.SYT.MOTCUA", 0, counted=False),
            ],
        ),
        build_procedure(
            code="DEMO-SLA",
            name="Thủ tục minh họa cảnh báo hạn xử lý (lịch 24/7, tính bằng phút)",
            field="Minh họa",
            agency_code=DEMO_AGENCY,
            level="full",
            fee="Không",
            time_limit=TimeLimit(value=10, unit="minute"),
            documents=[_doc("Đơn đề nghị", required=False)],
            steps=[
                ProcedureStep(name="Tiếp nhận", unit_code=commune_desk, hours=2 / 60),
                ProcedureStep(name="Xử lý", unit_code="H56.HC.TUPHAP", hours=5 / 60),
                ProcedureStep(name="Phê duyệt", unit_code=commune_leader, hours=3 / 60),
                ProcedureStep(name=RETURN_RESULT, unit_code=commune_desk, hours=0, counted=False),
            ],
        ),
    ]


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "version"}


async def latest_versions(session: AsyncSession) -> list[ProcedureVersion]:
    rows = (await session.exec(select(Procedure).order_by(col(Procedure.code), col(Procedure.version)))).all()
    latest: dict[str, Procedure] = {}
    for row in rows:
        latest[row.code] = row
    return [ProcedureVersion.model_validate(row.body) for row in latest.values()]


async def get_version(session: AsyncSession, *, code: str, version: int) -> ProcedureVersion | None:
    statement = select(Procedure).where(Procedure.code == code, Procedure.version == version)
    row = (await session.exec(statement)).first()
    return None if row is None else ProcedureVersion.model_validate(row.body)


async def publish_catalog(session: AsyncSession, outbox: Outbox, catalog: list[ProcedureVersion]) -> None:
    """Store each procedure as a new version when it differs from the latest one, and publish every
    current version so that intake's read copy is complete even after intake lost its database."""
    current = {procedure.code: procedure for procedure in await latest_versions(session)}
    now = utc_now()
    for procedure in catalog:
        stored = current.get(procedure.code)
        if stored is None or _comparable(stored.model_dump(mode="json")) != _comparable(
            procedure.model_dump(mode="json")
        ):
            version = 1 if stored is None else stored.version + 1
            procedure = procedure.model_copy(update={"version": version})
            session.add(
                Procedure(
                    code=procedure.code,
                    version=version,
                    published_at=now,
                    body=procedure.model_dump(mode="json"),
                )
            )
            current[procedure.code] = procedure
    await session.flush()
    await outbox.add(
        session,
        *(ProcedurePublished(procedure=item, version=item.version) for item in current.values()),
    )
