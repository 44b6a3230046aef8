"""The table of who may do what on the bus covers every event once, and the compose cluster gets
the same users as the embedded server."""

from __future__ import annotations

from pathlib import Path

from shared.bus.permissions import ACCESS, OPERATOR, USERS, compose_config, inbox_prefix, permissions
from shared.events import EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    wanted, given = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(given) > index
        if index >= len(given) or (token != "*" and token != given[index]):
            return False
    return len(wanted) == len(given)


def _event_types() -> list[str]:
    return list(EVENT_TYPES)


def test_every_event_has_exactly_one_publisher() -> None:
    for event_type in _event_types():
        publishers = [
            service
            for service, access in ACCESS.items()
            if any(matches(p, event_type) for p in access.publishes)
        ]
        assert len(publishers) == 1, (event_type, publishers)


def test_only_processing_publishes_the_directory_and_notify_publishes_no_dossier_event() -> None:
    for service in ACCESS:
        allowed = permissions(service)["publish"]["allow"]
        if service != "processing":
            assert not any(matches(pattern, "directory.person.changed") for pattern in allowed), service
            assert not any(matches(pattern, "alert.overdue") for pattern in allowed), service
        assert not any(matches(pattern, "$JS.API.STREAM.DELETE.DOSSIER") for pattern in allowed), service
    notify = permissions("notify")["publish"]["allow"]
    assert not any(matches(pattern, "dossier.refused") for pattern in notify)
    assert not any(
        matches(pattern, "$JS.API.CONSUMER.MSG.NEXT.DIRECTORY.x")
        for pattern in permissions("intake")["publish"]["allow"]
    )


def test_only_processing_may_purge_and_only_the_sla_stream() -> None:
    for service in ACCESS:
        allowed = permissions(service)["publish"]["allow"]
        purges = [
            stream
            for stream in ("SLA", "DOSSIER", "DLQ")
            if any(matches(p, f"$JS.API.STREAM.PURGE.{stream}") for p in allowed)
        ]
        assert purges == (["SLA"] if service == "processing" else []), service


def test_each_service_subscribes_only_to_its_own_inboxes() -> None:
    for service in ACCESS:
        assert permissions(service)["subscribe"]["allow"] == [f"{inbox_prefix(service)}.>"]
    assert permissions(OPERATOR)["publish"]["allow"] == [">"]


def test_the_compose_cluster_has_the_embedded_servers_users() -> None:
    committed = (ROOT / "deploy" / "nats.conf").read_text()
    assert committed == compose_config(), "deploy/nats.conf is stale: write compose_config() to it"
    for user in USERS:
        assert f"$MOTCUA_NATS_{user.upper()}_PASSWORD" in committed


def test_each_service_puts_files_only_into_its_own_bucket_and_notify_touches_none() -> None:
    writers = {"results": "processing", "documents": "intake"}
    for service in ACCESS:
        allowed = permissions(service)["publish"]["allow"]
        for bucket, writer in writers.items():
            puts = any(matches(p, f"$O.{bucket}.M.ZmlsZQ==") for p in allowed)
            purges = any(matches(p, f"$JS.API.STREAM.PURGE.OBJ_{bucket}") for p in allowed)
            reads = any(matches(p, f"$JS.API.CONSUMER.CREATE.OBJ_{bucket}.x.y") for p in allowed)
            assert puts == purges == (service == writer), (service, bucket)
            assert reads == (service not in {writer, "notify"}), (service, bucket)
            assert not any(matches(p, f"$JS.API.STREAM.DELETE.OBJ_{bucket}") for p in allowed)
