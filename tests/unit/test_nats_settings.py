"""``MOTCUA_NATS_URL`` names one server or a cluster's nodes, as a comma-separated list."""

from __future__ import annotations

import pytest

from shared.settings import NatsSettings


def test_a_single_url_is_one_server() -> None:
    assert NatsSettings(url="nats://127.0.0.1:4224").servers == ["nats://127.0.0.1:4224"]


def test_a_comma_separated_list_is_every_node_of_the_cluster() -> None:
    settings = NatsSettings(url="nats://nats-1:4222, nats://nats-2:4222,nats://nats-3:4222,")
    assert settings.servers == ["nats://nats-1:4222", "nats://nats-2:4222", "nats://nats-3:4222"]


def test_an_empty_url_is_refused_with_what_to_write() -> None:
    with pytest.raises(ValueError, match="nats://host:port"):
        _ = NatsSettings(url=" , ").servers
