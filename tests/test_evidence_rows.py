"""A finding's evidence is its first rows by time, file and line (`detectors/base.evidence_rows`); it sorts only the
rows up to the limit-th time, so it must give what a sort of every row gives, rows without a time last."""

import random
from datetime import UTC, datetime, timedelta

import polars as pl

from postmortem.analysis.detectors.base import MAX_EVIDENCE, Evidence, evidence_rows

SCHEMA = {"path": pl.String, "line": pl.Int64, "ts": pl.Datetime("us", "UTC"), "message": pl.String}


def _every_row_sorted(rows: pl.DataFrame, limit: int) -> tuple[Evidence, ...]:
    first = rows.sort(["ts", "path", "line"], nulls_last=True).head(limit)
    return tuple(Evidence(path=r["path"], line=int(r["line"] or 0), ts=r["ts"], text=r["message"][:500])
                 for r in first.iter_rows(named=True))


def test_the_first_rows_are_those_of_a_sort_of_every_row():
    rng = random.Random(7)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    places = [(p, n) for p in ("a.log", "b.log", None) for n in range(1, 40)]
    for _ in range(100):
        n = rng.randint(0, 50)
        picked = rng.sample(places, n)  # distinct file and line: no two rows tie on every key
        rows = pl.DataFrame({
            "path": [p for p, _ in picked], "line": [line for _, line in picked],
            "ts": [None if rng.random() < 0.3 else t0 + timedelta(seconds=rng.randint(0, 3)) for _ in picked],
            "message": [f"m{i}" for i in range(n)],
        }, schema=SCHEMA)
        for limit in (1, MAX_EVIDENCE):
            evidence, more = evidence_rows(rows, limit)
            assert evidence == _every_row_sorted(rows, limit)
            assert more == n - len(evidence)
