"""`slot_init`: Order and Trade (and apps/strategy's PlaceIntent) built through their slots'
descriptors are the objects the dataclass-generated `__init__` builds (kept here as the
oracle: the same fields made into a plain frozen, slotted dataclass), with the same
signature, and still frozen."""

from __future__ import annotations

import inspect
import pickle
from dataclasses import MISSING, FrozenInstanceError, astuple, field, fields, make_dataclass, replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.core.domain import OrderType, Side
from apps.exchange.matching import ZERO, Order, Trade, VenueOrderStatus, slot_init

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    st.decimals(allow_nan=False, allow_infinity=False, places=8),
)


def oracle(cls: type) -> type:
    """The class as `dataclass(frozen=True, slots=True)` makes it, without `slot_init`."""
    return make_dataclass(
        f"Generated{cls.__name__}", [(f.name, f.type, f) for f in fields(cls)], frozen=True, slots=True
    )


RECORDS = [Order, Trade]


@pytest.mark.parametrize("cls", RECORDS)
def test_the_signature_is_the_generated_one(cls: type) -> None:
    assert inspect.signature(cls) == inspect.signature(oracle(cls))
    assert vars(cls)["__init__"].__qualname__ == f"{cls.__qualname__}.__init__"


@pytest.mark.parametrize("cls", RECORDS)
@given(data=st.data())
def test_slot_init_builds_what_the_generated_init_builds(cls: type, data: st.DataObject) -> None:
    check_slot_init(cls, data)


def check_slot_init(cls: type, data: st.DataObject) -> None:
    """Built by position, by keyword and with defaults left out, `cls` (with `slot_init`) and
    its oracle give the same fields; frozen; `replace` and pickling unchanged."""
    reference = oracle(cls)
    names = [f.name for f in fields(cls)]
    values = {name: data.draw(VALUES, label=name) for name in names}
    ours, theirs = cls(*values.values()), reference(*values.values())
    assert astuple(ours) == astuple(theirs)
    assert repr(ours).removeprefix(cls.__name__) == repr(theirs).removeprefix(reference.__name__)
    assert astuple(cls(**values)) == astuple(ours)
    # Trailing fields with a default may be left out, by position or by keyword.
    optional = sum(f.default is not MISSING for f in fields(cls))
    kept = names[: len(names) - data.draw(st.integers(0, optional), label="left out")]
    short = {name: values[name] for name in kept}
    assert astuple(cls(**short)) == astuple(reference(**short))
    assert astuple(cls(*short.values())) == astuple(reference(*short.values()))
    with pytest.raises(FrozenInstanceError):
        setattr(ours, names[0], 1)
    last = names[-1]
    assert astuple(replace(ours, **{last: "changed"})) == astuple(replace(theirs, **{last: "changed"}))
    assert astuple(pickle.loads(pickle.dumps(ours))) == astuple(ours)  # noqa: S301 - our own bytes


def test_order_defaults_and_refusals() -> None:
    new, one = VenueOrderStatus.NEW, Decimal(1)
    order = Order(1, "a", "BTCUSDT", "c", Side.BUY, OrderType.MARKET, None, one, None, new, ZERO, ZERO, 0, 0)
    assert (order.quote_order_qty, order.lock_price) == (ZERO, ZERO)
    with pytest.raises(TypeError):
        Order(1, "a")  # type: ignore[call-arg]
    factory = make_dataclass("F", [("a", list, field(default_factory=list))], frozen=True, slots=True)
    with pytest.raises(TypeError):
        slot_init(factory)
