"""Figures derived from one events table, computed once per analysis.

Several rules read the same per-table figures (the client versions, the thread-pool stats of every
StackExchange.Redis record): each decodes the `attrs` JSON of every record, so computing them once
instead of once per rule is most of the detectors' time on a dense log (issue #20).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import polars as pl

if TYPE_CHECKING:
    from postmortem.analysis.correlate import Context

T = TypeVar("T")


def per_table(fn: Callable[[pl.DataFrame], T]) -> Callable[[pl.DataFrame], T]:
    """`fn(events)` computed once for the events table it was last called with (the same object, still
    alive, and held no longer than the table); a dict result is copied for each caller, so none can change another's."""
    last: dict[str, object] = {}

    def _forget(ref: weakref.ref) -> None:
        if last.get("ref") is ref:  # a newer table's value stays
            last.clear()

    @functools.wraps(fn)
    def once(events: pl.DataFrame) -> T:
        ref = last.get("ref")
        if ref is None or ref() is not events:
            last.clear()  # only the latest table is kept: an analysis reads one
            last["value"] = fn(events)
            last["ref"] = weakref.ref(events, _forget)  # let go with the table
        value = last["value"]
        return dict(value) if isinstance(value, dict) else value  # type: ignore[return-value]

    return once



def per_outages(fn: Callable[[pl.DataFrame, Context], list[T]]) -> Callable[[pl.DataFrame, Context], list[T]]:
    """`fn(events, ctx)` for a figure read from the table and the context's outages only, computed once for the
    table, context and outages it was last called with (the same objects, still alive; outages are frozen, so the
    same objects are the same values): PM101 and PM303 both measure every outage's reconnects. Each caller gets
    its own list; nothing is held longer than the table."""
    last: dict[str, object] = {}

    def _forget(ref: weakref.ref) -> None:
        if last.get("events") is ref:
            last.clear()

    @functools.wraps(fn)
    def once(events: pl.DataFrame, ctx: Context) -> list[T]:
        outages = tuple(map(id, ctx.outages))
        held, held_ctx = last.get("events"), last.get("ctx")
        if held is None or held() is not events or held_ctx() is not ctx or last.get("outages") != outages:
            last.clear()
            last["value"] = fn(events, ctx)
            last["events"], last["ctx"] = weakref.ref(events, _forget), weakref.ref(ctx)
            last["outages"] = outages
        return list(last["value"])  # type: ignore[arg-type]

    return once
