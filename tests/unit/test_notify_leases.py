"""How long a courier's lease lasts: long enough for the slowest conversation a channel allows, so
that no other replica can claim a message while it may still be on its way to the provider."""

from __future__ import annotations

from pydantic import HttpUrl

from services.notify.channels.delivery import lease_seconds
from services.notify.channels.sms import SmsSender
from services.notify.channels.smtp import EmailSender
from services.notify.channels.webhook import WebhookSender
from services.notify.settings import (
    DeliverySettings,
    SmsSettings,
    SmtpSettings,
    WebhookEndpoint,
    WebhookSettings,
)


def test_a_lease_lasts_the_longest_send_plus_the_margin() -> None:
    settings = DeliverySettings(lease_margin_seconds=30)

    assert lease_seconds(longest_send=420, settings=settings) == 450
    assert lease_seconds(longest_send=0.5, settings=DeliverySettings(lease_margin_seconds=0.2)) == 0.7


def test_an_smtp_server_slow_at_every_step_still_fits_in_one_lease() -> None:
    # connect, greeting, EHLO, STARTTLS, TLS handshake, EHLO, AUTH ×3, MAIL, RCPT, DATA, end of data, QUIT
    waits = 14
    smtp = SmtpSettings(timeout_seconds=30)
    sender = EmailSender(lambda: smtp)

    assert sender.longest_send() == 30 * waits
    assert lease_seconds(longest_send=sender.longest_send(), settings=DeliverySettings()) > 30 * waits


def test_the_longest_send_follows_the_channel_timeout_as_settings_change() -> None:
    current = SmtpSettings(timeout_seconds=30)
    sender = EmailSender(lambda: current)
    before = sender.longest_send()

    current = SmtpSettings(timeout_seconds=60)

    assert sender.longest_send() == 2 * before


def test_an_http_provider_gets_its_timeout_for_each_wait_of_one_request() -> None:
    # a pooled connection, connecting with TLS, writing the request, reading the reply
    waits = 4
    sms = SmsSender(lambda: SmsSettings(timeout_seconds=10))
    endpoint = WebhookEndpoint(name="dvcqg", url=HttpUrl("https://dvc.example.vn/hook"), secret="s" * 16)
    webhook = WebhookSender(lambda: WebhookSettings(endpoints=[endpoint], timeout_seconds=5))

    assert sms.longest_send() == 10 * waits
    assert webhook.longest_send() == 5 * waits
