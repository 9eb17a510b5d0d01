"""Reading the kill switch on every order: Redis only, once its state is known."""

from __future__ import annotations

import pytest

from apps.risk.services import activate_kill_switch, kill_switch_state, redis_keys


@pytest.mark.django_db
def test_a_switch_never_used_is_remembered_off_without_hiding_a_later_activation(
    django_assert_num_queries,
) -> None:
    redis_keys.client().delete(redis_keys.key("kill-switch"))
    assert not kill_switch_state().active
    with django_assert_num_queries(0):  # the audit table is read once, not on every order
        assert not kill_switch_state().active

    activate_kill_switch(reason="incident", actor="ops")
    assert kill_switch_state().active
    assert redis_keys.client().hget(redis_keys.key("kill-switch"), "active") == "1"
