"""The replay loop's cheaper forms of two numpy calls give what the plain calls give: `_shuffled` is
`ids[rng.permutation(ids.size)]` and leaves the generator in the same state (the next draws, and so every
later figure, depend on it); `_per_pod` is the counts `np.add.at(counts, pods, 1)` adds."""

from __future__ import annotations

import numpy as np
import pytest

from postmortem.analysis.replay.model import _per_pod, _shuffled


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 48, 300])
def test_shuffled_is_the_permutation_and_draws_the_same(n):
    ids = np.arange(n, dtype=np.int64) * 5 + 3
    plain, quick = np.random.default_rng(n + 19), np.random.default_rng(n + 19)
    for _ in range(3):
        assert np.array_equal(_shuffled(ids, quick), ids[plain.permutation(ids.size)])
        assert quick.bit_generator.state == plain.bit_generator.state
    assert np.array_equal(ids, np.arange(n, dtype=np.int64) * 5 + 3)  # the caller's array is left as it was


@pytest.mark.parametrize("pods", [[], [0], [2, 2, 0, 5, 2], list(range(16)) * 3])
def test_per_pod_counts_are_add_at_counts(pods):
    idx = np.array(pods, dtype=np.int64)
    counts = np.zeros(16, dtype=np.int64)
    np.add.at(counts, idx, 1)
    assert np.array_equal(_per_pod(idx, 16), counts)
