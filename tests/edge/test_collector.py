"""The worker's garbage-collector settings (gateway/edge/collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gateway.edge import collector


@pytest.fixture
def restored() -> Iterator[None]:
    """Put the test process's collector back as it was."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_freezes_start_up_and_raises_the_young_threshold(restored: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(collector.ENV, raising=False)
    older = gc.get_threshold()[1:]
    settings = collector.settle_collector()
    assert settings.threshold == (collector.GENERATION0, *older)
    assert gc.get_threshold()[0] == collector.GENERATION0
    assert settings.frozen == gc.get_freeze_count() > 0


def test_zero_keeps_pythons_settings(restored: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(collector.ENV, "0")
    before = gc.get_threshold()
    settings = collector.settle_collector()
    assert settings.threshold == before
    assert settings.frozen == 0


def test_threshold_from_the_environment(restored: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(collector.ENV, "5000")
    assert collector.settle_collector().threshold[0] == 5000


@pytest.mark.parametrize("raw", ["lots", "-1", "1.5"])
def test_a_bad_threshold_is_refused_by_name(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(collector.ENV, raw)
    with pytest.raises(RuntimeError, match=collector.ENV):
        collector.threshold_from_env()


def test_cycles_are_still_collected(restored: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reference cycle made after the freeze is garbage the collector still finds."""
    import weakref

    monkeypatch.delenv(collector.ENV, raising=False)
    collector.settle_collector()

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # type: ignore[attr-defined]
    gone = weakref.ref(a)
    del a, b
    assert gone() is not None  # a cycle: reference counting alone does not free it
    gc.collect(0)
    assert gone() is None
