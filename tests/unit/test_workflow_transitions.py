"""The workflow table: from which statuses each action may happen, and where it leaves the dossier.

The expectation is written out here, status by status, apart from ``domain.TRANSITIONS``: a change
to the table shows up as a failing pair, to be made on purpose in both places.
"""

from __future__ import annotations

from itertools import product

import pytest

from services.processing import domain
from shared.events import DossierStatus

S = DossierStatus
A = domain.Action
OPEN = {S.NEW, S.PROCESSING}

# action: (allowed from, target; None where the status stays as it is)
EXPECTED: dict[domain.Action, tuple[set[DossierStatus], DossierStatus | None]] = {
    A.ACCEPT: ({S.RECEIVING}, S.NEW),
    A.REFUSE: ({S.RECEIVING, S.WAITING}, S.DENIED),
    A.CLAIM: (OPEN | {S.RELEASING}, None),
    A.FORWARD: (OPEN, S.PROCESSING),
    A.REQUEST_SUPPLEMENT: (OPEN, S.WAITING),
    A.SUPPLEMENT_PROVIDED: ({S.WAITING}, S.PROCESSING),
    A.APPROVE: (OPEN, S.RELEASING),
    A.REJECT: (OPEN, S.RELEASING),
    A.RETURN_RESULT: ({S.RELEASING}, S.DONE),
    A.RESCHEDULE: (OPEN | {S.WAITING}, None),
    A.WITHDRAW: ({S.RECEIVING, S.NEW, S.PROCESSING, S.WAITING, S.PAYING}, S.CANCELLED),
    A.RATED: ({S.DONE}, None),
}


def test_every_action_has_one_row_in_the_table() -> None:
    assert set(domain.TRANSITIONS) == set(A) == set(EXPECTED)


def _name(item: DossierStatus | domain.Action) -> str:
    return item.portal_name if isinstance(item, DossierStatus) else item.value


@pytest.mark.parametrize(("status", "action"), list(product(S, A)), ids=_name)
def test_an_action_is_allowed_only_from_its_statuses_and_leaves_the_dossier_at_its_target(
    status: DossierStatus, action: domain.Action
) -> None:
    allowed, target = EXPECTED[action]
    assert domain.allows(status, action) == (status in allowed)
    if status in allowed:
        assert domain.transition(status, action) is (target or status)
        return
    with pytest.raises(domain.InvalidTransition) as refused:
        domain.transition(status, action)
    message = str(refused.value)
    assert message.startswith("cannot ") and f"that is {domain.describe(status)}" in message
    named = message.split("allowed from: ", 1)[1]
    assert named == ", ".join(domain.describe(item) for item in sorted(allowed))


def test_no_action_leaves_a_dossier_paying_or_unresolved_and_only_a_submission_makes_it_receiving() -> None:
    reached = {row.target for row in domain.TRANSITIONS.values()}
    assert set(S) - reached == {S.RECEIVING} | domain.PORTAL_ONLY == {S.RECEIVING, S.PAYING, S.UNRESOLVED}


def test_the_ends_are_the_statuses_no_action_moves_a_dossier_out_of() -> None:
    moved_out = {
        status
        for status in S
        for action in A
        if domain.allows(status, action) and domain.transition(status, action) is not status
    }
    assert set(S) - moved_out == domain.ENDS | {S.UNRESOLVED} == {S.DENIED, S.CANCELLED, S.DONE, S.UNRESOLVED}
