"""The level a `connected_clients` series settled at after its peak, read from the series alone.

Why: whether a rise of connected clients is a spike depends on whether the clients kept what they opened. A pooled
fleet that re-opens or fills its pools after a pause or a restart rises to its pools' size and stays there
(hang-st1-nocfg-24 after a pause: 26 -> 97, held until the run ended; storm-blocking-20 after a restart: 21 -> 81,
the same at 4 a pod), while a storm's excess is refused or closed again (pair-storm-24 falls from 100 to 17 while
its pods run). The clients' own records say when they ran; without them (an incident with only the server's log and
the metrics export) the series must say it itself. Its last samples may be taken while the fleet stops: the count
falls below what the fleet held before the incident (most recordings end so: their pods stop before the exporter),
or part of the way there (hang-skew-16: 65 for 6 s, then 44 as its pods stopped). So the settled level is the median
of the samples after the peak, less the trailing ones below the level before the incident: the level the fleet held
most of the time after the peak, which a fleet stopping in the last samples does not move.

With the clients' logs the level is read the same way, to the clients' last record: the logs add when the fleet
stopped, not another measure. Until session 19 they had one of their own, the fewest connections from the peak to a
second past that record, which took the sample of a fleet stopping: storm-16 (64 at maxclients from the restart to
the stop, then 1 a second later) was "a spike" with its pods' logs and "at maxclients" without them, storm-jitter-40
(uncapped pools: 41 -> 293, held until the stop, then 210) a spike with them and none without.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl


@dataclass(frozen=True)
class Settled:
    """The median `connected_clients` after a peak, and how it was taken."""

    value: float
    source: str


def settled_level(g: pl.DataFrame, peak_ts: datetime, before: float | None,
                  clients_end: datetime | None = None) -> Settled | None:
    """The level one entity's `connected_clients` samples `g` (in time order, `value`) settled at after the peak at
    `peak_ts`: the median of the later samples (to `clients_end`, the clients' last record, when their logs say it),
    less the trailing ones below `before` (the level before the incident: the fleet stopping). None when no sample
    after the peak remains: nothing shows what was kept."""
    later = g.filter(pl.col("ts") > peak_ts)
    if clients_end is not None:
        later = later.filter(pl.col("ts") <= clients_end)
    values = later.get_column("value").to_list()
    kept = len(values)
    if before is not None:
        while kept and values[kept - 1] < before:
            kept -= 1
    if kept == 0:
        return None
    left_out = len(values) - kept
    median = float(pl.Series(values[:kept]).median())
    source = f"median of the {kept} connected_clients samples after the peak"
    if clients_end is not None:
        source += " to the clients' last record"  # its time depends on how their lines were summarized
    if left_out:
        source += f" (the last {left_out}, below the {before:g} before the incident, left out: the fleet stopping)"
    return Settled(median, source)
