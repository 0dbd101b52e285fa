"""The pre-encoded admit/settle commands are byte for byte the readable argument lists, packed."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.state.store import (AdmitRequest, BreakerParams, Candidate, Failure, PaceArgs, SettleRequest,
                                 StateStore)

names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
ints = st.integers(min_value=0, max_value=2**53)
days = st.dates(min_value=date(2000, 1, 2)).map(lambda d: d.isoformat())

breakers = st.builds(BreakerParams, st.integers(1, 50), ints, ints, ints, ints)
candidates = st.builds(Candidate, names, ints, ints, ints, breakers, st.integers(-1, 2**40))
failures = st.builds(Failure, names, ints, st.sampled_from(["failure", "neutral"]))
paces = st.none() | st.builds(PaceArgs, ints, ints, ints, ints, ints, ints, ints, st.booleans())
admits = st.builds(AdmitRequest, names, names, ints, ints, ints, ints, days, ints,
                   st.lists(candidates, min_size=1, max_size=4).map(tuple),
                   st.lists(failures, max_size=2).map(tuple), ints, st.integers(0, 3), paces, ints,
                   st.just("-") | names, ints, st.booleans(), st.just("") | names, ints)
settles = st.builds(SettleRequest, names, names, names, names, names, names, names, days, ints, ints, ints, ints,
                    st.sampled_from(["success", "failure", "neutral"]), ints, ints, ints, ints, st.booleans(),
                    st.just("") | names, ints, st.just("") | names, st.booleans())


def _store() -> StateStore:
    return StateStore(client=None, prefix="gw", retention_days=7, ledger_maxlen=1000)


@settings(max_examples=300, deadline=None)
@given(st.lists(admits, min_size=1, max_size=3))
def test_admit_command_equals_packed_argument_lists(reqs: list[AdmitRequest]) -> None:
    store = _store()
    for req in reqs + reqs:  # the second round comes from the caches
        assert store.commands.admit(req) == store.scripts.pack("admit", *store.admit_call(req))


@settings(max_examples=300, deadline=None)
@given(st.lists(settles, min_size=1, max_size=3))
def test_settle_command_equals_packed_argument_lists(reqs: list[SettleRequest]) -> None:
    store = _store()
    for req in reqs + reqs:
        assert store.commands.settle(req) == store.scripts.pack("settle", *store.settle_call(req))
