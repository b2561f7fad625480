"""The median the replay takes of its runs and of the measured ticks and lags.

`np.median` checks its result for NaN through `numpy.ma`, whose import (~10 ms) every replay paid for a
handful of medians (issue 20: a small incident's fixed cost). This is the same figure: sorted, the middle
value, or the mean of the two middle ones computed as numpy's mean computes it, NaN when any value is NaN."""

from __future__ import annotations

import math


def median(values) -> float:
    """`float(np.median(values))` of a 1-D sequence (tests compare the two)."""
    import numpy as np  # late: numpy loads only when there is an outage to replay

    a = np.sort(np.asarray(values, dtype=np.float64).ravel())  # NaN sorts last
    if a.size == 0 or math.isnan(a[-1]):
        return math.nan
    mid = a.size // 2
    return float(a[mid]) if a.size % 2 else float((a[mid - 1] + a[mid]) / 2)
