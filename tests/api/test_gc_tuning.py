"""The server's garbage-collector settings: start-up heap frozen, young generation in larger batches."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from supreme.api.gc_tuning import SERVER_THRESHOLDS, tune_for_server
from supreme.cli import build_parser


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restore_gc")
def test_tune_freezes_the_heap_and_sets_the_thresholds() -> None:
    gc.unfreeze()
    previous = tune_for_server()
    assert gc.get_threshold() == SERVER_THRESHOLDS and previous != SERVER_THRESHOLDS
    assert gc.get_freeze_count() > 1000  # the imported modules and test objects alive now
    alive = [[i] for i in range(10)]  # made after the freeze: still collected normally
    assert all(gc.is_tracked(x) for x in alive)


@pytest.mark.usefixtures("restore_gc")
@pytest.mark.parametrize("bad", [(0, 10, 10), (700, 10), (700, 10, 1.5)])
def test_bad_thresholds_are_refused(bad: tuple[int, ...]) -> None:
    before = gc.get_threshold()
    with pytest.raises(ValueError, match="three integers"):
        tune_for_server(bad)  # type: ignore[arg-type]
    assert gc.get_threshold() == before  # nothing changed


def test_serve_tunes_by_default_and_can_keep_the_defaults() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve"]).gc_tuning is True
    assert parser.parse_args(["serve", "--no-gc-tuning"]).gc_tuning is False
