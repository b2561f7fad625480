"""`ts_lit` is `pl.lit` for the times the analysis compares with `ts`, built without polars' own queries (issue 20).

It replaced `pl.lit(datetime)` (explicit or implied by `pl.col("ts") >= some_datetime`) in the hot filters, so it
must give the same literal, type and name included, for every value those filters pass: UTC datetimes as Python
(`timezone.utc`) and polars (`ZoneInfo("UTC")`) make them, before and after the epoch, and the values it leaves to
`pl.lit` (other zones, fixed offsets, None); and the same rows when a filter uses it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from postmortem.schema import TS_DTYPE, ts_lit

ZONES = st.sampled_from([UTC, ZoneInfo("UTC"), ZoneInfo("Europe/Berlin"), timezone(timedelta(hours=-3, minutes=-30))])
# no imaginary times (a Berlin wall time in a spring-forward gap, 1999-03-28 02:00): polars' own `pl.lit` raises on
# them, and no time the analysis compares with `ts` is one (they are converted from UTC)
TIMES = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=ZONES,
                     allow_imaginary=False)


@given(TIMES)
def test_the_literal_is_polars_own(value: datetime) -> None:
    mine, theirs = pl.select(ts_lit(value)), pl.select(pl.lit(value))
    assert mine.schema == theirs.schema
    assert mine.equals(theirs)


def test_none_stays_a_null_literal() -> None:
    assert pl.select(ts_lit(None)).equals(pl.select(pl.lit(None)))


@given(st.lists(TIMES, min_size=1, max_size=20), TIMES, TIMES)
def test_a_filter_keeps_the_same_rows(times: list[datetime], lo: datetime, hi: datetime) -> None:
    df = pl.DataFrame({"ts": [t.astimezone(UTC) for t in times]}, schema={"ts": TS_DTYPE})
    lo, hi = lo.astimezone(UTC), hi.astimezone(ZoneInfo("UTC"))
    mine = df.filter((pl.col("ts") >= ts_lit(lo)) & pl.col("ts").is_between(ts_lit(lo), ts_lit(hi)))
    theirs = df.filter((pl.col("ts") >= lo) & pl.col("ts").is_between(lo, hi))
    assert mine.equals(theirs)


def test_a_utc_time_needs_no_query_of_polars(monkeypatch) -> None:
    """The reason for the helper: `pl.lit(datetime)` casts through a query (a `select` on a one-row frame) and
    `ts_lit` does not. Counted by the queries polars' engine collects."""
    from polars.lazyframe import engine

    value = datetime(2026, 12, 7, 14, 0, 0, 123456, tzinfo=UTC)
    calls = []
    collect = engine._LocalEngine.collect

    def counted(self, *args, **kwargs):
        calls.append(1)
        return collect(self, *args, **kwargs)

    monkeypatch.setattr(engine._LocalEngine, "collect", counted)
    pl.lit(value)
    by_polars = len(calls)
    ts_lit(value)
    assert by_polars > 0
    assert len(calls) == by_polars
