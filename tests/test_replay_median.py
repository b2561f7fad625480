"""The replay's median (replay/median.py) is `np.median`'s figure without importing `numpy.ma` (issue 20)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from postmortem.analysis.replay.median import median

_FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                    st.floats(min_value=-1e6, max_value=1e6), st.integers(-10**6, 10**6),
                    st.sampled_from([0.1, 0.2, 0.3, 1e308, -1e308, math.inf, -math.inf]))


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@settings(max_examples=400, deadline=None)
@given(st.lists(_FLOATS, min_size=1, max_size=9))
def test_median_is_numpy_s(values: list[float]) -> None:
    with np.errstate(all="ignore"):
        expected = float(np.median(np.asarray(values, dtype=np.float64)))
    assert _same(median(values), expected), (median(values), expected)
    assert _same(median(np.asarray(values, dtype=np.float64)), expected)


def test_median_of_the_even_and_odd_cases() -> None:
    """The cases the hypothesis test relies on being drawn: two middle values, an overflow, NaN."""
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([4, 1, 3, 2]) == 2.5
    assert median([1e308, 1e308]) == math.inf == float(np.median([1e308, 1e308]))
    assert math.isnan(median([1.0, math.nan, 2.0])) and math.isnan(median([-math.inf, math.inf]))
    assert median([0.1, 0.2]) == float(np.median([0.1, 0.2]))
