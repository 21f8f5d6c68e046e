"""Histogram observations kept as plain numbers on the event loop, and handed to prometheus-client
in bulk: once a second, at each scrape, and when the worker stops (sampled.py).

`Histogram.observe` takes a lock for its sum and again for its bucket (in multiprocess mode, each
also writes to a memory-mapped file): with the request's counter, about 17,000 instructions per
request, 2% of what a read of a note costs in all (docs/performance.md, "The cost of
observability"). `Observations.observe` is a bisect and two additions. The price: with WORKERS > 1
a scrape sees another worker's requests up to a second late (those of the worker it reaches, at
once).

The one reach into a private part of prometheus-client: a histogram has no public way to add many
observations at once, so `hand_over` adds to its child's `_buckets` (each bucket counts its own
observations, not the ones below it: `observe` keeps them so, and adds them up when collected) and
`_sum`. tests/observability/test_tallies.py checks, by name, that this gives what as many
`observe` calls give.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from prometheus_client import Histogram


class Observations:
    """A histogram's observations (one set of its labels': `child`), counted by bucket until
    handed over. `bounds`: the histogram's buckets, as it was made with them."""

    __slots__ = ("_bounds", "_child", "_counts", "_sum")

    def __init__(self, child: Histogram, bounds: Sequence[float]) -> None:
        self._child = child
        self._bounds = tuple(bounds)
        self._counts = [0] * (len(self._bounds) + 1)  # the last: above them all (+Inf)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        # The first bucket whose bound is at least `value`, as Histogram.observe picks it.
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    def hand_over(self) -> None:
        """Add what was observed since the last time to the histogram."""
        counts, total = self._counts, self._sum
        if not any(counts):
            return
        self._counts, self._sum = [0] * len(counts), 0.0
        for bucket, count in zip(self._child._buckets, counts, strict=True):
            if count:
                bucket.inc(count)
        self._child._sum.inc(total)
