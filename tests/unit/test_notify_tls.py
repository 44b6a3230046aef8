"""Notify's channels refuse to send personal data in clear: SMTP requires STARTTLS (or implicit
TLS), the SMS gateway and webhook endpoints must be https, unless loopback or allowed by a setting.
A misconfiguration stops the settings from loading, so the service does not start."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from services.notify.settings import SmsSettings, SmtpSettings, WebhookEndpoint, WebhookSettings


def endpoint(url: str) -> WebhookEndpoint:
    return WebhookEndpoint.model_validate({"name": "dvcqg", "url": url, "secret": "s" * 16})


def test_smtp_requires_starttls_by_default() -> None:
    assert SmtpSettings(enabled=True).starts_tls is True
    assert SmtpSettings(enabled=True, start_tls=True).starts_tls is True


def test_smtp_with_implicit_tls_does_not_also_start_tls() -> None:
    assert SmtpSettings(enabled=True, use_tls=True, port=465).starts_tls is False


def test_smtp_with_starttls_switched_off_is_refused_with_the_setting_to_change() -> None:
    with pytest.raises(ValidationError, match="MOTCUA_NOTIFY_SMTP_ALLOW_PLAINTEXT=true"):
        SmtpSettings(enabled=True, start_tls=False)


def test_smtp_plaintext_is_allowed_only_by_its_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTCUA_NOTIFY_SMTP_ENABLED", "true")
    monkeypatch.setenv("MOTCUA_NOTIFY_SMTP_START_TLS", "false")
    with pytest.raises(ValidationError):
        SmtpSettings()
    monkeypatch.setenv("MOTCUA_NOTIFY_SMTP_ALLOW_PLAINTEXT", "true")
    assert SmtpSettings().starts_tls is False
    # Allowed, STARTTLS left unset is taken when the server offers it.
    assert SmtpSettings(start_tls=None).starts_tls is None


def test_an_http_sms_gateway_off_this_machine_is_refused() -> None:
    with pytest.raises(ValidationError, match="MOTCUA_NOTIFY_SMS_ALLOW_PLAINTEXT=true"):
        SmsSettings(enabled=True, gateway_url="http://gw.example.vn/sms")


@pytest.mark.parametrize(
    "url",
    ["https://gw.example.vn/sms", "http://127.0.0.1:9000/sms", "http://localhost/sms", "http://[::1]/sms"],
)
def test_an_https_or_loopback_sms_gateway_is_taken(url: str) -> None:
    assert SmsSettings(enabled=True, gateway_url=url).gateway_url is not None


def test_an_http_sms_gateway_is_taken_when_allowed_or_switched_off() -> None:
    SmsSettings(enabled=True, gateway_url="http://gw.example.vn/sms", allow_plaintext=True)
    SmsSettings(enabled=False, gateway_url="http://gw.example.vn/sms")


def test_an_http_webhook_endpoint_off_this_machine_is_refused_by_name() -> None:
    with pytest.raises(
        ValidationError, match=re.escape("'dvcqg' http://portal.example.vn/hook is not https")
    ):
        WebhookSettings(endpoints=[endpoint("http://portal.example.vn/hook")])


def test_webhook_endpoints_https_loopback_or_allowed_are_taken() -> None:
    WebhookSettings(
        endpoints=[endpoint("https://portal.example.vn/hook"), endpoint("http://127.0.0.1:8080/hook")]
    )
    WebhookSettings(endpoints=[endpoint("http://portal.example.vn/hook")], allow_plaintext=True)
