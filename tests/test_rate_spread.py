"""A fleet refused at maxclients before an outage at the rate it is refused after it is no reconnect storm, however
few seconds of logs came before the outage (`rate_spread.py`); a fleet healthy before it still storms.

Session 16 netted the refusals after the outage by their pre-outage rate, but judged what was left against the
connections the fleet needs (6 to 80): the noise of a baseline of 280 to 1,300 new connections a second. The
restarts of storm-full-long-4 (4 pods, 281 a second before, 280 after) and storm-rate50-6 (6 pods, 3 s of logs
before it) were still called reconnect storms (295 and 1,998 connections "not kept")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from postmortem.analysis.population import Demand
from postmortem.schema import conform_events
from tests.recorded import facts_and_report

# 4, 6, 8 and 16 pods; 6.0, 3.0, 6.0 and 6.0 s of logs before the restart; 20, 50, 50 and 50 requests a second a pod
SATURATED = ["storm-full-long-4", "storm-rate50-6", "storm-rate50-long-8", "storm-rate50-long-16"]
# refused only after the outage: 4 requests a second a pod at 2, 16 and 48 pods, a pause at 8; 50 a second at 8
STORMS = ["storm-long-2", "storm-16", "storm-48", "storm-pause-8", "storm-rate50-w16-8"]


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _refused_per_s(facts: dict) -> tuple[float, float]:
    """The server's refusals a second before the restart (from its first refusal to its shutdown) and after it (from
    its ready line to the end of the traffic), per server lifetime: the measured truth."""
    before, after = facts["rejected_connections"]["per_server_lifetime"]
    first = _iso(facts["first_rejected_connection"]["info_poll"])
    down, up = _iso(facts["outage"]["server_down"]), _iso(facts["outage"]["end"])
    return before / (down - first).total_seconds(), after / (_iso(facts["run"]["end"]) - up).total_seconds()


@pytest.mark.parametrize("name", SATURATED)
def test_a_fleet_refused_as_often_before_the_outage_is_no_storm(name):
    facts, report = facts_and_report(name)
    before, after = _refused_per_s(facts)
    assert 0.75 < after / before < 1.25  # the recording is the case: refused at about the same rate all along
    assert not [f for f in report.findings if f.rule_id == "PM101"]
    (pm103,) = [f for f in report.findings if f.rule_id == "PM103"]
    s = pm103.stats
    # new connections a second: nearly all of them refused (the fleet holds maxclients), so the server's refusals
    assert abs(s["connections_per_s_before"] - before) < 0.25 * before
    assert abs(s["connections_per_s_after"] - after) < 0.25 * after
    assert s["connections_per_s_after"] <= s["connections_per_s_top"]
    assert (f"{s['connections_per_s_before']:,.0f} new connections a second before it and "
            f"{s['connections_per_s_after']:,.0f} after it, within the {s['connections_per_s_top']:,.0f} a second its "
            f"{s['connections_seconds']} seconds before predict (95 %), so no reconnect storm") in report.summary
    assert "triggered a reconnect storm" not in report.summary
    # the evidence shows the refusals going on after the outage, not only where they began
    up = _iso(facts["outage"]["end"])
    assert any(e.ts is not None and e.ts > up and "max number of clients" in e.text for e in pm103.evidence)


@pytest.mark.parametrize("name", STORMS)
def test_a_fleet_healthy_before_the_outage_still_storms(name):
    facts, report = facts_and_report(name)
    assert _iso(facts["first_rejected_connection"]["client_error"]) > _iso(facts["outage"]["start"])
    assert [f for f in report.findings if f.rule_id == "PM101"]
    assert "triggered a reconnect storm" in report.summary and "so no reconnect storm" not in report.summary


def test_a_fleet_refused_before_whose_rate_the_outage_doubled_storms():
    """storm-rate50-doubled-8: 8 pods at 50 requests a second against maxclients 48, refused from 2.3 s before a
    4 s restart at ~120 new connections a second, and at 2.3x that after it: a storm, on a Redis already refusing."""
    facts, report = facts_and_report("storm-rate50-doubled-8")
    before, after = _refused_per_s(facts)
    assert after > 1.5 * before
    (pm101,) = [f for f in report.findings if f.rule_id == "PM101"]
    s = pm101.stats
    assert s["rate_after"] > s["rate_top"] and abs(s["rate_before"] - before) < 0.25 * before
    assert "triggered a reconnect storm" in report.summary
    assert (f"Redis was already refusing connections at maxclients from 17:19:30 UTC, 2.3 s before the outage, and the "
            f"outage lifted its new connections from {s['rate_before']:,.0f} a second to {s['rate_after']:,.0f}, beyond "
            f"the {s['rate_top']:,.0f} its seconds before predict (95 %)") in report.summary


T0 = datetime(2026, 12, 7, 14, 28, 4, 815000, tzinfo=UTC)


def _refused(at: datetime | None) -> pl.DataFrame:
    """An events table with one client refusal at maxclients at `at` (none: an empty one)."""
    rows = [] if at is None else [{"ts": at, "kind": "redis.max_clients", "source": "redis_py"}]
    return conform_events(pl.DataFrame(rows, schema={"ts": pl.Datetime("us", "UTC"), "kind": pl.Utf8,
                                                     "source": pl.Utf8}))


REFUSED = _refused(T0 - timedelta(seconds=2.7))  # storm-rate50-6's first refusal, 2.7 s before its restart


def _demand(before: list[float], after: list[float]) -> Demand:
    """A server log's new connections: `before` in the seconds up to the outage at T0 (the first is the partial
    second the log began in, the last the outage's own, 0.815 s of it before T0), `after` from 3 s after it."""
    def frame(start: datetime, counts: list[float]) -> pl.DataFrame:
        seconds = [start + timedelta(seconds=i) for i in range(len(counts))]
        return pl.DataFrame({"second": seconds, "attempts": counts, "rate": counts},
                            schema={"second": pl.Datetime("us", "UTC"), "attempts": pl.Float64, "rate": pl.Float64})
    first = T0.replace(microsecond=0) - timedelta(seconds=len(before) - 1)
    back = T0.replace(microsecond=0) + timedelta(seconds=3)
    window = frame(back, after)
    return Demand(sum(after), None, 0.0, "server log `Accepted` lines", back, back + timedelta(seconds=len(after)),
                  window, None, frame(first, before))


def _spread(d: Demand, events: pl.DataFrame = REFUSED):
    # imported here, not at the top: the fixtures' tests run (and fail) on a tree without the module
    from postmortem.analysis.rate_spread import rate_spread

    return rate_spread(events, d, T0, d.window_start, d.window_end)


def test_three_seconds_predict_little():
    """storm-rate50-6's seconds: the scraper's lone connection, 37 as its pods started (not the saturation's rate),
    352 and 334, and 320 in the 0.815 s of the outage's second before it (393 a second); 471 a second after the
    restart is within what three seconds predict (t = 4.30 for two degrees of freedom)."""
    from postmortem.analysis.rate_spread import t_975

    d = _demand([1, 37, 352, 334, 320], [464, 399, 444, 407, 571, 543])
    s = _spread(d)
    assert s is not None and s.seconds == 3 and s.before == pytest.approx((352 + 334 + 320 / 0.815) / 3)
    assert s.top == pytest.approx(s.before + t_975(2) * s.sd * (4 / 3) ** 0.5)
    assert s.within and 480 < s.top < 540


def test_many_steady_seconds_bound_the_rate_tightly():
    """The same rates over ten seconds before: 471 a second after is out of their spread."""
    d = _demand([1, 352, 334, 340, 348, 330, 356, 338, 344, 350, 336, 280], [464, 399, 444, 407, 571, 543])
    s = _spread(d)
    assert s is not None and s.seconds == 11 and not s.within


def test_twice_the_rate_after_is_a_storm_on_top_of_the_saturation():
    """storm-rate50-doubled-8's seconds (its first 256 a second after the restart counted from the window's start, not
    the ready line): refused at ~120 new connections a second for 2.3 s before the
    restart, 256 a second after it."""
    d = _demand([1, 27, 0, 121, 107, 88 * 0.815 / 0.667], [116, 148, 330, 290, 256, 148, 244, 500, 276])
    s = _spread(d)
    assert s is not None and s.seconds == 3 and not s.within


def test_a_fleet_not_refused_before_is_not_judged_by_its_spread():
    """Its first refusal within two clocks' disagreement of the outage, or none: whatever it opens and does not keep
    is the outage's."""
    d = _demand([1, 352, 334, 340, 320], [350, 340])
    assert _spread(d, _refused(T0 - timedelta(seconds=1.3))) is None
    assert _spread(d, _refused(None)) is None
    assert _spread(d) is not None


def test_no_spread_without_two_seconds_before():
    assert _spread(_demand([1, 300], [464, 399])) is None
