"""The one reach into a private part of prometheus-client (observability/tallies.py): a histogram
child's `_buckets` and `_sum`, added to in bulk by `Observations.hand_over`. If an upgrade moves
them, this fails by name rather than /metrics in silence."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from notes_api.observability.metrics import LATENCY_BUCKETS
from notes_api.observability.tallies import Observations

# Below the first bound, on bounds, between them, above the last (+Inf).
VALUES = (0.0, 0.0004, 0.001, 0.0011, 0.003, 0.003, 0.2, 1.0, 9.9, 10.0, 11.0, 1e9)


def samples(registry: CollectorRegistry, name: str) -> dict[tuple[str, str], float]:
    """`name`'s buckets, count and sum, by suffix and bound."""
    (metric,) = (m for m in registry.collect() if m.name == name)
    return {
        (sample.name.removeprefix(name), sample.labels.get("le", "")): sample.value
        for sample in metric.samples
        if not sample.name.endswith("_created")
    }


def test_histogram_buckets_and_sum_added_in_bulk_as_observe_adds_them() -> None:
    registry = CollectorRegistry()
    one_by_one = Histogram("one_by_one", "-", ["k"], buckets=LATENCY_BUCKETS, registry=registry)
    in_bulk = Histogram("in_bulk", "-", ["k"], buckets=LATENCY_BUCKETS, registry=registry)
    observations = Observations(in_bulk.labels("v"), LATENCY_BUCKETS)

    for value in VALUES:
        one_by_one.labels("v").observe(value)
        observations.observe(value)
    observations.hand_over()
    for value in VALUES[:3]:  # a second hand-over adds only what came since the first
        one_by_one.labels("v").observe(value)
        observations.observe(value)
    observations.hand_over()
    observations.hand_over()  # nothing new: nothing added

    expected = samples(registry, "one_by_one")
    assert expected[("_count", "")] == len(VALUES) + 3
    assert expected[("_bucket", "+Inf")] == expected[("_count", "")]
    assert samples(registry, "in_bulk") == expected


def test_nothing_observed_adds_nothing() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("nothing", "-", buckets=LATENCY_BUCKETS, registry=registry)
    Observations(histogram, LATENCY_BUCKETS).hand_over()

    assert set(samples(registry, "nothing").values()) == {0.0}
