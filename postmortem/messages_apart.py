"""The analysis' events table keeps the StackExchange.Redis timeouts' messages apart, by reference (issue #20).

A timeout whose `attrs` are its message's (`se_attrs.derived`) keeps ~830 bytes of message in the table: on the
dense 1 GiB log 459k of them, 383 MiB, the largest part of what the analysis holds for its whole run. Inside
`messages_apart` those messages are written to a file of Arrow segments (sorted by `event_id`, `SEGMENT_ROWS` a
segment) and the table holds null in their place; a reader that reads `message` of rows that may be such timeouts
calls `restored(rows)` first and gets each row's own text back, read from the segments holding its `event_id`. The
text is the text: nothing is re-derived, so every quote, field and finding is what the whole table gave.

Outside `messages_apart` (tests and tools calling the rules on a table of their own) nothing is kept apart and
`restored` returns its rows as they are.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from postmortem.se_attrs import derived

SEGMENT_ROWS = 2048  # messages read back at a time: a quote reads its row's segment (~1.7 MB) and no more
TEXT_ROWS = 20_000  # rows whose messages a reader of every row's text holds at once (~17 MB of timeouts)


class UnkeyedRows(ValueError):
    """Rows with null messages and no `event_id` while messages are kept apart: their text cannot be found."""


@dataclass(frozen=True)
class _Kept:
    """The file of kept messages: `ids` sorted, segment k holding those at positions k*SEGMENT_ROWS onwards."""

    path: Path
    ids: pl.Series  # sorted (polars, not numpy: `-f json` and `parse` never import numpy)
    spans: tuple[tuple[int, int], ...]  # (byte offset, length) of each segment

    def segment(self, k: int) -> pl.DataFrame:
        start, length = self.spans[k]
        with self.path.open("rb") as f:
            f.seek(start)
            return pl.read_ipc_stream(io.BytesIO(f.read(length)))


_KEPT: ContextVar[_Kept | None] = ContextVar("messages_apart", default=None)


def kept_apart() -> pl.Expr:
    """The rows whose message is kept apart: the timeouts whose `attrs` are their message's."""
    return derived() & pl.col("message").is_not_null()


@contextmanager
def messages_apart(events: pl.DataFrame) -> Iterator[pl.DataFrame]:
    """`events` with the `kept_apart` rows' messages null, held in a file for `restored` until the block ends.
    A table whose `event_id`s are not one per row keeps every message (they are its key)."""
    at = events.select(pl.arg_where(kept_apart())).to_series()
    ids = events.get_column("event_id").gather(at)
    if at.len() == 0 or ids.n_unique() != ids.len() or events.get_column("event_id").n_unique() != events.height:
        yield events
        return
    order = ids.arg_sort()
    at, ids = at.gather(order), ids.gather(order)
    folder = Path(tempfile.mkdtemp(prefix="postmortem-messages-"))
    try:
        kept = _write(events, at, ids, folder / "messages.arrow")
        # a string column's nulled values keep their bytes in its buffers: the concatenation writes the others anew
        cleared = events.get_column("message").scatter(at, None)
        events = events.with_columns(pl.concat_str([cleared, pl.lit("")]).alias("message"))
        del cleared
        token = _KEPT.set(kept)
        try:
            yield events
        finally:
            _KEPT.reset(token)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _write(events: pl.DataFrame, at: pl.Series, ids: pl.Series, path: Path) -> _Kept:
    """Each segment's (event_id, message) as one Arrow stream, one after the other in `path`."""
    spans = []
    with path.open("wb") as f:
        for i in range(0, at.len(), SEGMENT_ROWS):
            buf = io.BytesIO()
            events.select("event_id", "message")[at.slice(i, SEGMENT_ROWS)].write_ipc_stream(buf)
            spans.append((f.tell(), buf.tell()))
            f.write(buf.getbuffer())
    return _Kept(path, ids.clone(), tuple(spans))


def restored(rows: pl.DataFrame) -> pl.DataFrame:
    """`rows` with the kept-apart messages back in `message`, every other value as it was."""
    kept = _KEPT.get()
    if kept is None or "message" not in rows.columns:
        return rows
    missing = rows.get_column("message").is_null()
    if not missing.any():
        return rows
    if "event_id" not in rows.columns:
        raise UnkeyedRows("rows without event_id read while messages are kept apart")
    wanted = rows.get_column("event_id").filter(missing).drop_nulls().unique().sort().cast(kept.ids.dtype)
    pos = kept.ids.search_sorted(wanted)
    found = (pos < kept.ids.len()) & (kept.ids.gather(pos.clip(upper_bound=max(kept.ids.len() - 1, 0))) == wanted)
    if not found.any():
        return rows
    texts = pl.concat([kept.segment(int(k)) for k in (pos.filter(found) // SEGMENT_ROWS).unique().sort()])
    texts = texts.filter(pl.col("event_id").is_in(wanted.filter(found).implode())).select(
        pl.col("event_id").cast(rows.schema["event_id"]), _kept="message")
    back = rows.join(texts, on="event_id", how="left", maintain_order="left")
    return back.with_columns(pl.coalesce("message", "_kept").alias("message")).drop("_kept")


def each_restored(rows: pl.DataFrame, step: int | None = None) -> Iterator[pl.DataFrame]:
    """`restored` slices of `rows` (`TEXT_ROWS` each unless told), in order: a reader of every timeout's message
    holds one slice's texts at once."""
    step = step or TEXT_ROWS
    for i in range(0, max(rows.height, 1), step):
        yield restored(rows.slice(i, step))


def select_on_text(rows: pl.DataFrame, **exprs: pl.Expr) -> pl.DataFrame:
    """`rows.select(**exprs)` for expressions that read `message`, evaluated on the restored rows a slice at a time:
    one value per row, in order, as the whole table gives, with one slice's texts held at once."""
    return pl.concat([part.select(**exprs) for part in each_restored(rows)])
