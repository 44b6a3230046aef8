"""The directory of agencies, units and people, and the demo directory the embedded default seeds."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.models import Agency, Person, Unit

ROLES = ("officer", "manager", "leader", "admin")

DEMO_AGENCY = "000.00.06.H56"
DEMO_RECEIVING_UNIT = "H56.HC.MOTCUA"

SEED_AGENCIES = (
    Agency(code=DEMO_AGENCY, name="UBND phường Hải Châu"),
    Agency(code="000.00.12.H56", name="Sở Y tế"),
)

SEED_UNITS = (
    Unit(code=DEMO_RECEIVING_UNIT, agency_code=DEMO_AGENCY, name="Bộ phận Một cửa", receives_dossiers=True),
    Unit(code="H56.HC.TUPHAP", agency_code=DEMO_AGENCY, name="Công chức Tư pháp - Hộ tịch"),
    Unit(code="H56.HC.VHXH", agency_code=DEMO_AGENCY, name="Phòng Văn hóa - Xã hội"),
    Unit(code="H56.HC.KT", agency_code=DEMO_AGENCY, name="Phòng Kinh tế"),
    Unit(code="H56.HC.CA", agency_code=DEMO_AGENCY, name="Công an phường"),
    Unit(code="H56.HC.LD", agency_code=DEMO_AGENCY, name="Lãnh đạo UBND phường"),
    Unit(code="H56.HC.VT", agency_code=DEMO_AGENCY, name="Văn thư UBND phường"),
    Unit(
        code="H56.SYT.MOTCUA",
        agency_code="000.00.12.H56",
        name="Quầy Sở Y tế tại Trung tâm Phục vụ hành chính công",
        receives_dossiers=True,
    ),
    Unit(code="H56.SYT.BTXH", agency_code="000.00.12.H56", name="Phòng Bảo trợ xã hội và Trẻ em"),
    Unit(code="H56.SYT.LD", agency_code="000.00.12.H56", name="Lãnh đạo Sở Y tế"),
    Unit(code="H56.SYT.VT", agency_code="000.00.12.H56", name="Văn thư Sở Y tế"),
)

SEED_PEOPLE = (
    Person(
        username="demo-officer",
        full_name="Trần Thị Bình",
        role="officer",
        agency_code=DEMO_AGENCY,
        unit_code=DEMO_RECEIVING_UNIT,
        email="officer@demo.motcua.vn",
    ),
    Person(
        username="demo-manager",
        full_name="Lê Văn Cường",
        role="manager",
        agency_code=DEMO_AGENCY,
        unit_code=DEMO_RECEIVING_UNIT,
        email="manager@demo.motcua.vn",
    ),
    Person(
        username="demo-leader",
        full_name="Phạm Thị Dung",
        role="leader",
        agency_code=DEMO_AGENCY,
        unit_code="H56.HC.LD",
        email="leader@demo.motcua.vn",
    ),
    Person(username="demo-admin", full_name="Quản trị hệ thống", role="admin", email="admin@demo.motcua.vn"),
    Person(
        username="syt-officer",
        full_name="Hoàng Văn Em",
        role="officer",
        agency_code="000.00.12.H56",
        unit_code="H56.SYT.MOTCUA",
        email="officer@syt.motcua.vn",
    ),
)


async def seed_directory(session: AsyncSession) -> None:
    """Insert the seed agencies, units and people that are missing; never overwrite edits."""
    for kind, rows, key in (
        (Agency, SEED_AGENCIES, "code"),
        (Unit, SEED_UNITS, "code"),
        (Person, SEED_PEOPLE, "username"),
    ):
        for row in rows:
            if await session.get(kind, getattr(row, key)) is None:
                session.add(kind.model_validate(row.model_dump()))
        await session.flush()


async def find_person(session: AsyncSession, *, username: str) -> Person | None:
    person = await session.get(Person, username)
    return person if person is not None and person.active else None


async def get_agency(session: AsyncSession, *, code: str) -> Agency | None:
    return await session.get(Agency, code)


async def receiving_unit(session: AsyncSession, *, agency_code: str) -> Unit | None:
    statement = select(Unit).where(Unit.agency_code == agency_code, Unit.receives_dossiers.is_(True))  # type: ignore[attr-defined]
    return (await session.exec(statement)).first()
