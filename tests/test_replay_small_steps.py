"""The replay loop's per-step shortcuts for a few requests (replay/model.py) give what the numpy forms give:
ranks counted in Python up to `SMALL_RANKS` elements equal `_rank_within_arrays` (dtype included), sorted
or not, on every size either side of the cut."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from postmortem.analysis.replay import model


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 12), max_size=model.SMALL_RANKS + 20), st.booleans())
def test_small_ranks_equal_the_numpy_ranks(groups: list[int], pod_major: bool) -> None:
    arr = np.array(sorted(groups) if pod_major else groups, dtype=np.int64)
    fast, plain = model.rank_within(arr), model._rank_within_arrays(arr)
    assert fast.dtype == plain.dtype and fast.shape == plain.shape
    assert fast.tolist() == plain.tolist()

