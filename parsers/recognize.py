"""Run the registered recognizers over framed records (shared by line logs and record-producing
file parsers such as CSV exports of application logs)."""

from __future__ import annotations

import polars as pl

from postmortem.model import Kind

# A framed record no recognizer claimed (it had an envelope: otherwise its lines are unrecognized).
APP_LOG = Kind("app.log", "app", "a framed record no recognizer claimed")


def recognize(records: pl.DataFrame) -> pl.DataFrame:
    """Run every recognizer over the records not yet claimed; return claimed rows with `source`."""
    claimed: list[pl.DataFrame] = []
    remaining = records
    from parsers import RECOGNIZERS  # late: the registry imports the recognizer modules

    for recognizer in RECOGNIZERS:
        if remaining.height == 0:
            break
        # one chunk per column: columns with different chunk layouts made a polars select panic
        # ("assertion failed: i < self.len()") on a 3 GiB server log
        remaining = remaining.rechunk()
        hits = recognizer.recognize(remaining)
        if hits.height == 0:
            continue
        hits = hits.unique(subset="rec", keep="first", maintain_order=True).with_columns(
            source=pl.lit(recognizer.name)
        )
        claimed.append(hits)
        remaining = remaining.join(hits.select("rec"), on="rec", how="anti")
    if not claimed:
        return pl.DataFrame(schema={"rec": pl.UInt32, "source": pl.String, "kind": pl.String})
    return pl.concat(claimed, how="diagonal_relaxed")
