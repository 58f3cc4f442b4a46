"""Units of the models' summary figures as `supreme sim run` prints them."""

from __future__ import annotations

import math

import pytest

from sim.units import format_figure, unit_of


@pytest.mark.parametrize(("key", "unit"), [
    ("p50", "ms"), ("p99", "ms"), ("wait_p50", "ms"), ("mean_wait", "ms"), ("time_to_ack", "s"),
    ("detect_delay_max", "s"), ("end_time", "s"), ("l1_hit_ratio", "ratio"), ("prefetch_accuracy", "ratio"),
    ("timeout_rate", "ratio"), ("queue_waits", ""), ("requests", ""), ("final_policy", ""),
])
def test_unit_of(key: str, unit: str) -> None:
    assert unit_of(key) == unit


@pytest.mark.parametrize(("key", "value", "text"), [
    ("p50", 7.86432210729826e-05, "0.07864 ms"), ("p99", 10.3565861727373, "10.36 s"),
    ("p95", 0.1046513, "104.7 ms"),
    ("time_to_ack", 49.154534060923744, "49.15 s"), ("l1_hit_ratio", 0.3965, "0.3965"),
    ("n", 1000.0, "1000"), ("requests", 106, "106"), ("passed", True, "True"),
    ("result", "succeeded", "succeeded"),
    ("wait_p99", None, "-"), ("p95", math.nan, "-"),
])
def test_format_figure(key: str, value: object, text: str) -> None:
    assert format_figure(key, value) == text
