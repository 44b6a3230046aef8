"""HTTP routes for providers: the SMS gateway's delivery reports, which say whether a message it
took reached the phone."""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from services.notify.channels import delivery
from services.notify.models import Channel, NotificationPublic
from services.notify.settings import SmsSettings
from shared.errors import NotFound
from shared.events import utc_now
from shared.http import RuntimeDep, unauthorized

reports_router = APIRouter(prefix="/api/v1/delivery-reports", tags=["delivery reports"])

_bearer = HTTPBearer(auto_error=False)


class DeliveryReport(BaseModel):
    """What the gateway says of a message it took: ``reference`` is the message id it answered with."""

    reference: str = Field(min_length=1, max_length=200)
    status: Literal["delivered", "failed"]


async def sms_gateway(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """The caller holds the report token (``app.state.sms``)."""
    settings: SmsSettings = request.app.state.sms
    if not settings.report_token:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "SMS delivery reports are not accepted: MOTCUA_NOTIFY_SMS_REPORT_TOKEN is not set",
        )
    if credentials is None or not hmac.compare_digest(
        credentials.credentials.encode(), settings.report_token.encode()
    ):
        raise unauthorized("a valid report token is required")


@reports_router.post("/sms", response_model=NotificationPublic, dependencies=[Depends(sms_gateway)])
async def sms_delivery_report(runtime: RuntimeDep, report: DeliveryReport) -> NotificationPublic:
    """Mark the SMS the gateway sent as ``reference`` ``delivered``, or ``permanent-failure`` when
    the gateway gave up on it. A repeated or late report changes nothing; 404 when no SMS has that
    reference, 409 when the report overtook the gateway's own reply (report again)."""
    # A report that overtook the gateway's reply is a 409 (``ReportTooEarly``): a gateway retries a
    # report it could not hand over, and by then the attempt is recorded.
    async with runtime.db.session() as session:
        row = await delivery.record_report(
            session=session,
            channel=Channel.SMS,
            reference=report.reference,
            delivered=report.status == "delivered",
            now=utc_now(),
        )
        found = None if row is None else NotificationPublic.model_validate(row.model_dump())
    if found is None:
        raise NotFound(f"no SMS with reference {report.reference!r}")
    return found
