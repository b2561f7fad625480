"""Frame many small log texts at once: the records `envelopes.frame_counted` gives each, in one table.

A fleet export is thousands of pod logs of a few lines each; framing them one by one costs about a
hundred polars calls per file whatever its size. Here every step runs once over all lines with a
`_file` column: the per-file decisions (outer prefix, header variants) are scored for all files in one
group-by and taken by the same rules as `envelopes._outer_strip` / `_pick_variants`; files with the
same decisions are framed together by `envelopes._frame_text`, which keeps records, continuations and
noise seconds within each file. Docker json-file texts are taken (each JSON line is a line of text);
other JSON-lines texts are not (`batchable`): they are framed alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from parsers import churn
from parsers.envelopes import (
    HEAD_LINES,
    HEADER_MATCH,
    HEADER_VARIANTS,
    MAX_LINE_CHARS,
    OUTER_PREFIXES,
    FramePlan,
    _frame_text,
    docker_bodies,
    is_docker_json,
    is_json_lines,
    json_keys_in,
    normalize_level,
    outer_groups,
)
from postmortem.input.timeparse import with_parsed_ts

_VARIANT_NAMES = tuple(name for name, _ in HEADER_VARIANTS)


def batchable(text: str) -> bool:
    """Whether `frame_many` frames this text as `frame_counted` would (JSON lines but docker's are framed
    alone)."""
    return not is_json_lines(text[:65536]) or _docker(text)


def _docker(text: str) -> bool:
    """Docker json-file, decided as `frame_counted` decides it: by the keys of the first 300 lines."""
    head = (text[:-1] if text.endswith("\n") else text).split("\n", 300)[:300]
    return is_docker_json(json_keys_in([ln.removesuffix("\r")[:MAX_LINE_CHARS] for ln in head]))


@dataclass
class ManyFramed:
    """The records of many texts (`_file` = the text's index) and, per text, what `frame_counted`
    returns beside its records."""

    records: pl.DataFrame
    lines: list[int]
    blank: list[int]
    truncated: list[int]
    plans: list[FramePlan]


def _split(texts: list[str]) -> pl.DataFrame:
    """One row per physical line of every text (`envelopes.split_lines_plain`, with `_file`)."""
    raws: list[str] = []
    files: list[int] = []
    lines: list[int] = []
    for i, text in enumerate(texts):
        if not text:
            continue
        parts = (text[:-1] if text.endswith("\n") else text).split("\n")
        raws += parts
        files += [i] * len(parts)
        lines += range(1, len(parts) + 1)
    return pl.DataFrame({
        "_file": pl.Series(files, dtype=pl.UInt32), "line": pl.Series(lines, dtype=pl.UInt32),
        "raw": pl.Series(raws, dtype=pl.String),
    }).with_columns(pl.col("raw").str.strip_suffix("\r").str.slice(0, MAX_LINE_CHARS))


def _head_nonblank(lines: pl.DataFrame, column: str) -> pl.DataFrame:
    """The non-blank lines among each file's first HEAD_LINES (what `envelopes._share` scores)."""
    return lines.filter((pl.col("line") <= HEAD_LINES) & (pl.col(column).str.strip_chars() != ""))


def _outer_shares(lines: pl.DataFrame) -> dict[int, dict[str, float]]:
    head = _head_nonblank(lines, "raw")
    shares = head.group_by("_file").agg(
        pl.col("raw").str.contains(rx).mean().alias(name) for name, rx in OUTER_PREFIXES)
    return {r["_file"]: r for r in shares.iter_rows(named=True)}


def _pick_variants(lines: pl.DataFrame) -> dict[int, tuple[str, ...]]:
    """`envelopes._pick_variants` of every file's head `body`, in two group-bys for all files."""
    head = _head_nonblank(lines, "body").select(
        "_file", *(pl.col("body").str.contains(HEADER_MATCH[name]).alias(name) for name in _VARIANT_NAMES))
    if head.height == 0:
        return {}
    shares = head.group_by("_file").agg(pl.col(name).mean() for name in _VARIANT_NAMES)
    best: dict[int, tuple[str, list[str]]] = {}
    for r in shares.iter_rows(named=True):
        scores = [(name, float(r[name] or 0.0)) for name in _VARIANT_NAMES]
        scores = [s for s in scores if s[1] > 0]
        if scores:
            scores.sort(key=lambda s: -s[1])  # stable: ties keep HEADER_VARIANTS order
            best[r["_file"]] = (scores[0][0], [name for name, _ in scores[1:]])
    if not best:
        return {}
    # the lines the best variant leaves, per file, and how many of them each other variant matches
    best_of = pl.DataFrame({"_file": pl.Series(list(best), dtype=pl.UInt32),
                            "_best": [b for b, _ in best.values()]})
    matched_best = pl.lit(False)
    for name in _VARIANT_NAMES:
        matched_best = pl.when(pl.col("_best") == name).then(pl.col(name)).otherwise(matched_best)
    rest = head.join(best_of, on="_file").filter(~matched_best).group_by("_file").agg(
        pl.len().alias("n"), *(pl.col(name).sum() for name in _VARIANT_NAMES))
    rest_of = {r["_file"]: r for r in rest.iter_rows(named=True)}
    picked = {}
    for f, (first, others) in best.items():
        chosen = [first]
        r = rest_of.get(f)
        for name in others:
            if name == "iso_plain" and first == "iso_level":
                continue
            if r and r["n"] and r[name] / r["n"] >= 0.2:
                chosen.append(name)
                break
        picked[f] = tuple(chosen)
    return picked


_STRIPPED = ("_file", "line", "raw", "body", "pts", "ohost")


def _strip(lines: pl.DataFrame, outer: str | None) -> pl.DataFrame:
    """`envelopes._outer_strip`'s columns (body, pts, ohost) for files whose outer prefix is `outer`."""
    if outer == "docker_json":
        return docker_bodies(lines).select(_STRIPPED)
    if outer is None:
        return lines.with_columns(
            body=pl.col("raw"), pts=pl.lit(None, dtype=pl.String), ohost=pl.lit(None, dtype=pl.String)).select(_STRIPPED)
    rest, pts, host = outer_groups(outer, dict(OUTER_PREFIXES)[outer])
    return lines.with_columns(rest.alias("_rest"), pts.alias("pts"), host.alias("ohost")).with_columns(
        body=pl.coalesce("_rest", "raw")).select(_STRIPPED)


def frame_many(texts: list[str], tz: str = "UTC", summarize: bool = False) -> ManyFramed:
    """Frame every text (each `batchable`, not blank) as `envelopes.frame_counted` frames it alone, in one
    table."""
    lines = _split(texts)
    n = len(texts)
    stats = lines.group_by("_file").agg(
        lines=pl.len(), blank=pl.col("raw").str.contains(r"^\s*$").sum(),
        truncated=(pl.col("raw").str.len_chars() >= MAX_LINE_CHARS).sum())
    counts = {name: [0] * n for name in ("lines", "blank", "truncated")}
    for r in stats.iter_rows(named=True):
        for name in counts:
            counts[name][r["_file"]] = int(r[name])
    # outer prefix: the first scoring 0.5, except kubectl_ts when its bodies have no header variant
    shares = _outer_shares(lines)
    outer_of: dict[int, str | None] = {}
    for f in range(n):
        if is_json_lines(texts[f][:65536]):  # docker json-file (`batchable`)
            outer_of[f] = "docker_json"
            continue
        s = shares.get(f, {})
        outer_of[f] = next((name for name, _ in OUTER_PREFIXES if float(s.get(name) or 0.0) >= 0.5), None)
    stripped = pl.concat([
        _strip(lines.filter(pl.col("_file").is_in([f for f, o in outer_of.items() if o == outer])), outer)
        for outer in dict.fromkeys(outer_of.values())
    ], how="vertical_relaxed") if lines.height else _strip(lines, None)
    variants = _pick_variants(stripped)
    plain_again = [f for f, o in outer_of.items() if o == "kubectl_ts" and not variants.get(f)]
    if plain_again:  # an ISO timestamp with a plain message: the inner iso_plain variant frames it
        for f in plain_again:
            outer_of[f] = None
        redo = _strip(lines.filter(pl.col("_file").is_in(plain_again)), None)
        stripped = pl.concat([stripped.filter(~pl.col("_file").is_in(plain_again)), redo], how="vertical_relaxed")
        variants.update({f: () for f in plain_again})
        variants.update(_pick_variants(redo))
    # blank once the prefix is peeled (`envelopes.body_blanks`)
    for r in stripped.group_by("_file").agg(blank=pl.col("body").str.contains(r"^\s*$").sum()).iter_rows(named=True):
        counts["blank"][r["_file"]] = int(r["blank"] or 0)
    plans = [FramePlan(outer_of[f], variants.get(f, ())) for f in range(n)]
    groups: dict[FramePlan, list[int]] = {}
    for f, plan in enumerate(plans):
        groups.setdefault(plan, []).append(f)
    framed, activities = [], []
    for plan, files in groups.items():
        part = stripped.filter(pl.col("_file").is_in(files)).sort(["_file", "line"])
        if part.height:
            records, _, activity = _frame_text(part, plan.outer, tz, summarize, plan.variants)
            # times parsed per plan: its files share a header layout, so the sample finds one time layout (a
            # batch of mixed layouts was parsed by the normalizing path, ~4x dearer); `frame_counted` parses
            # per file, and a layout the sample misses is parsed with every layout either way
            framed.append(with_parsed_ts(records, "ts_text", tz))
            if activity is not None and activity.height:
                activities.append(activity)
    records = pl.concat(framed, how="vertical_relaxed").with_columns(
        level=normalize_level(pl.col("level_word"))).drop("ts_text", "level_word")
    records = pl.concat([records, *(a.with_columns(**churn.no_summary()).select(records.columns)
                                    for a in activities)], how="vertical_relaxed").sort(["_file", "line"])
    return ManyFramed(records, counts["lines"], counts["blank"], counts["truncated"], plans)
