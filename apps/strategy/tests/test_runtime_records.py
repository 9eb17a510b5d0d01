"""PlaceIntent (built per order by every runtime) with `slot_init`: the same objects and
signature as the dataclass-generated `__init__` gives (apps/exchange/tests/test_records.py)."""

from __future__ import annotations

import inspect

from hypothesis import given
from hypothesis import strategies as st

from apps.exchange.tests.test_records import check_slot_init, oracle
from apps.strategy.runtime.types import PlaceIntent


def test_the_signature_is_the_generated_one() -> None:
    assert inspect.signature(PlaceIntent) == inspect.signature(oracle(PlaceIntent))


@given(data=st.data())
def test_slot_init_builds_what_the_generated_init_builds(data: st.DataObject) -> None:
    check_slot_init(PlaceIntent, data)
