"""The polars yardstick for the dense case: one streaming pass that extracts and aggregates what the
analysis needs from a log (pod, second, exception class, endpoint) — what a hand-written pipeline
would cost, to compare `postmortem analyze` with in the same run.

    python benchmarks/polars_pass.py FILE
"""

from __future__ import annotations

import sys

import polars as pl


def aggregate(path: str) -> pl.DataFrame:
    """Rows per pod, second, exception and endpoint, from one streaming pass over the file's lines."""
    lines = pl.scan_csv(path, has_header=False, separator="\x1f", quote_char=None, new_columns=["line"],
                        schema_overrides={"line": pl.String}, truncate_ragged_lines=True)
    line = pl.col("line")
    return (
        lines.select(
            line.str.extract(r"^(\S+) \| ", 1).alias("host"),
            line.str.extract(r"\| (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", 1).alias("second"),
            line.str.extract(r"([\w.]+(?:Exception|Error)):", 1).alias("exception"),
            line.str.extract(r"(?:serverEndpoint: |connecting to |from )([\w.-]+:\d+)", 1).alias("endpoint"),
        )
        .with_columns(pl.col("second").forward_fill())
        .filter(pl.col("exception").is_not_null())
        .group_by("host", "second", "exception", "endpoint")
        .len()
        .collect(engine="streaming")
    )


if __name__ == "__main__":
    print(aggregate(sys.argv[1]).height)
