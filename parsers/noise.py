"""Summarize the bulk of an application log that cannot matter to a Redis postmortem.

Most lines of a big incident folder are single-line INFO/DEBUG records ("GET /api 200", "job
done"). Carrying each as an event costs memory and recognizer time for nothing, so a header line is
*noise* when it is a one-line record, mentions nothing a recognizer could claim (`relevant_pattern()`) and no
warning-or-worse word. Noise lines are counted into one `app.activity` record per host and second
(value = the number of lines): they stay parsed and accounted, and still show the app's activity
(the logical operations behind amplification figures).

`relevant_pattern()` is built from what each registered recognizer declares (`keep_words`: the words
of every line it may claim) plus the warning-or-worse words, so a new recognizer cannot lose its lines
to folding; a test runs the fixtures with and without summarizing and compares the recognized events,
and the registry meta-test frames every sample with folding on.
"""

from __future__ import annotations

import functools
import re

import polars as pl

from postmortem.model import Kind

ACTIVITY = Kind("app.activity", "app", "summarized noise: the single-line info/debug records of one host in one "
                "second that mention nothing Redis-related; `value` = how many", weighted=True)

# Warning-or-worse words: a line carrying one is never noise, whoever claims it (regex fragments).
SEVERE_WORDS = (
    "warn", "error", "exception", "traceback", "fatal", "critical", "crit", "severe", "wrn", "ftl", r"err\b",
    "fail",
)


@functools.cache
def relevant_pattern() -> str:
    """Case-insensitive, unanchored: every recognizer's `keep_words` (literal) and the `SEVERE_WORDS`."""
    from parsers import RECOGNIZERS  # late: the registry imports the recognizers, which import the framer

    return relevant_pattern_for(RECOGNIZERS)


def relevant_pattern_for(recognizers) -> str:
    words = dict.fromkeys(re.escape(w.lower()) for r in recognizers for w in r.keep_words)
    return "(?i)" + "|".join((*words, *SEVERE_WORDS))


# Envelopes whose every line is relevant (redis-server's own log).
ALWAYS_RELEVANT = ("redis_server", "redis_server_prefixed", "redis_signal")
SAMPLE = 500


def _ts_slice(headers: pl.DataFrame, ts_group: pl.Expr) -> tuple[int, int] | None:
    """(offset, length) when the timestamp sits at a fixed place in every sampled header line."""
    sample = headers.head(SAMPLE).select(body=pl.col("body"), ts=ts_group).drop_nulls()
    if sample.height == 0:
        return None
    found = sample.select(
        off=pl.col("body").str.find(pl.col("ts"), literal=True), n=pl.col("ts").str.len_chars()
    )
    if found.get_column("off").n_unique() == 1 and found.get_column("n").n_unique() == 1:
        off = found.get_column("off")[0]
        return (int(off), int(found.get_column("n")[0])) if off is not None else None
    return None


_FRACTION = re.compile(r":\d\d([.,]\d+)")
_FRACTION_RX = r"(:\d\d)[.,]\d+"


def _seconds(noise: pl.DataFrame, stamp: pl.Expr, where: tuple[int, int] | None) -> pl.DataFrame:
    """Noise lines counted per host and timestamp-without-fractional-seconds (`key`): line, n.

    When the timestamp sits at a fixed place (`where`) and its fraction too (in the sample, and the
    separator character in every row), runs of equal slices are counted, never building a string per
    line: ~20x cheaper than a regex replace and a hash group-by. Otherwise by regex replace.
    """
    if "_file" in noise.columns:  # many files framed at once (parsers/frame_many.py): per file, by value
        return (
            noise.select("_file", "line", "ohost", key=stamp.str.replace(_FRACTION_RX, "$1"))
            .group_by(["_file", "ohost", "key"], maintain_order=True).agg(line=pl.col("line").min(), n=pl.len())
        )
    sample = noise.head(SAMPLE).select(stamp).to_series().to_list()
    spans = {m.span(1) if (m := _FRACTION.search(s or "")) else None for s in sample}
    if where is not None and len(spans) == 1 and None not in spans:
        (a, b), = spans
        off, n = where
        body = pl.col("body")
        sep = noise.select(body.str.slice(off + a, 1).unique()).to_series().to_list()
        if set(sep) <= {".", ","}:
            # lines come in time order: count runs of one second (no hashing); a second that comes back
            # later is another run, merged when the activity is grouped per second
            keys = noise.select("line", "ohost", _k1=body.str.slice(off, a), _k2=body.str.slice(off + b, n - b))
            starts = keys.with_row_index("_i").filter(
                pl.col("_k1").ne_missing(pl.col("_k1").shift()) | pl.col("_k2").ne_missing(pl.col("_k2").shift())
                | pl.col("ohost").ne_missing(pl.col("ohost").shift()) | (pl.col("_i") == 0)
            )
            return starts.select(
                "ohost", "line",
                n=(pl.col("_i").shift(-1).fill_null(keys.height) - pl.col("_i")).cast(pl.UInt32),
                key=pl.concat_str("_k1", "_k2"),
            )
    return (
        noise.select("line", "ohost", key=stamp.str.replace(_FRACTION_RX, "$1"))
        .group_by(["ohost", "key"], maintain_order=True).agg(line=pl.col("line").min(), n=pl.len())
    )


def header_timestamps(noise: pl.DataFrame, ts_rx: str, variant: str) -> pl.Expr:
    """The `ts` group of `ts_rx` (the regex of `variant`) on the `body` of these lines, as
    `header_timestamps_plain` captures it. On one-line bodies the capture stops at the header instead of
    walking every message to its end (`envelopes.header_groups`): half the cost of a folder's noise framing."""
    from parsers.envelopes import header_groups  # late: envelopes imports this module

    one_line = not noise.select(pl.col("body").str.contains("\n", literal=True).any()).item()
    return header_groups(pl.col("body"), variant, one_line)["ts"]


def header_timestamps_plain(ts_rx: str) -> pl.Expr:
    """The `ts` group of the whole header regex: the reference for `header_timestamps`."""
    return pl.col("body").str.extract_groups(ts_rx).struct.field("ts")


def split_noise(lines: pl.DataFrame, header_rx: list[str], ts_rx: str | None,
                variants: tuple[str, ...], tz: str = "UTC") -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Return (lines still to frame, activity records or None).

    `lines` has line, body, pts, ohost; `header_rx` are the chosen variants' regexes; `ts_rx` is the
    first variant's regex (its `ts` group dates the activity).
    """
    if not variants or set(variants) & set(ALWAYS_RELEVANT) or ts_rx is None or "?P<ts>" not in ts_rx:
        return lines, None
    body = pl.col("body")
    by_file = ["_file"] if "_file" in lines.columns else []  # many files framed at once: within each
    hdr = pl.any_horizontal([body.str.contains(rx) for rx in header_rx])
    next_hdr = pl.col("_hdr").shift(-1).over("_file") if by_file else pl.col("_hdr").shift(-1)
    # one with_columns: polars runs the two regex scans on two threads
    marked = lines.with_columns(_hdr=hdr, _rel=body.str.contains(relevant_pattern())).with_columns(
        _noise=pl.col("_hdr") & next_hdr.fill_null(True) & ~pl.col("_rel")
    )
    noise = marked.filter(pl.col("_noise"))
    if noise.height == 0:
        return lines, None
    kept = marked.filter(~pl.col("_noise")).drop("_hdr", "_rel", "_noise")
    ts_group = header_timestamps(noise, ts_rx, variants[0])
    where = None if by_file else _ts_slice(noise, ts_group)
    ts_text = body.str.slice(*where) if where else ts_group
    from postmortem.input.timeparse import with_parsed_ts  # late: keeps parsers importable on their own

    # Drop fractional seconds first, then parse only the distinct seconds: one parse per second of log
    # instead of one per line.
    stamp = pl.coalesce(ts_text, pl.col("pts"))
    keyed = _seconds(noise, stamp, where)
    dated = with_parsed_ts(keyed, "key", tz)
    activity = (
        dated.with_columns(second=pl.col("ts").dt.truncate("1s"))
        .group_by([*by_file, "ohost", "second"], maintain_order=True)
        .agg(line=pl.col("line").min(), n_lines=pl.col("n").sum().cast(pl.UInt32),
             ts_zoned=pl.col("ts_zoned").min())  # False when any of its times was read in --tz
        .select(
            *by_file,
            "line",
            ts=pl.col("second"),
            ts_yearless=pl.lit(False),
            ts_zoned="ts_zoned",
            level=pl.lit("info"),
            logger=pl.lit(None, dtype=pl.String),
            host=pl.col("ohost"),
            thread=pl.lit(None, dtype=pl.String),
            text=pl.format("{} info/debug lines summarized", pl.col("n_lines")),
            n_lines="n_lines",
            envelope=pl.lit("activity"),
        )
    )
    return kept, activity
