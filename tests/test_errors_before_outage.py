"""A fleet refused at maxclients before an outage, and refused as often after it, did not have its errors left behind
by the outage: the report says they went on at their level, not that they "persisted after Redis was back", and
nothing amplified the outage (`rate_spread.errors_spread`, `storm.ErrorsAfter`, `story._before_trigger`).

Until session 18 every such restart was told as "It was amplified by retries without backoff, uncapped redis-py
pools and misconfigured timeouts" and "Errors persisted 11.9 s after Redis was back" (storm-rate50-long-8): the
same refusals ran from 6 s before the restart, at 128 to 178 errors a second, and went on after it at 80 to 154.
Such a fleet's old server also accepts connections right up to its shutdown line: they are not the restarted
server answering again."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.recorded import RECORDED, facts_and_report

# 3, 4, 6, 6, 8 and 16 pods at 20 or 50 requests a second, refused from 2.7 to 6.0 s before a 3 to 6 s restart
SATURATED = ["storm-rate50-steady-3", "storm-full-long-4", "storm-rate50-6", "storm-rate50-steady-6",
             "storm-rate50-long-8", "storm-rate50-long-16"]
# refused at maxclients only after the outage (8 pods at 50 requests a second), or refused before it and lifted out
# of that rate by it (storm-rate50-doubled-8): the outage's own errors
LIFTED = ["storm-rate50-w16-8", "storm-rate50-doubled-8"]


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _client_refusals_per_s(facts: dict, name: str) -> tuple[float, float]:
    """The clients' `max number of clients reached` lines a second before the restart (from the first to its start)
    and after it (from the server's ready line to the end of the traffic), counted in the pods' own logs."""
    first, start = _iso(facts["first_rejected_connection"]["client_error"]), _iso(facts["outage"]["start"])
    up, end = _iso(facts["outage"]["end"]), _iso(facts["run"]["end"])
    before = after = 0
    for pod in facts["parameters"]["pod_names"]:
        for line in (RECORDED / name / f"{pod}.log").read_text().splitlines():
            if "max number of clients" not in line or not line[:1].isdigit():  # a record's line, not its traceback
                continue
            ts = _iso(line[:23].replace(",", ".") + "+00:00")
            before += first <= ts < start
            after += up < ts <= end
    return before / (start - first).total_seconds(), after / (end - up).total_seconds()


@pytest.mark.parametrize("name", SATURATED)
def test_errors_that_went_on_at_their_level_did_not_persist(name):
    facts, report = facts_and_report(name)
    before, after = _client_refusals_per_s(facts, name)
    assert after < 1.25 * before  # the recording is the case: refused no more often after the restart than before
    assert not [f for f in report.findings if f.rule_id in ("PM101", "PM102")]
    (pm103,) = [f for f in report.findings if f.rule_id == "PM103"]
    s = pm103.stats
    assert s["errors_per_s_after"] <= s["errors_per_s_top"]
    # the clients' errors a second before it, nearly all refusals at maxclients: their steady seconds (from the first
    # at half the busiest) against the pods' lines from their first refusal on (storm-rate50-steady-3: 61 for 37,
    # its 11 to 27 a second before 79 and 43 left out)
    assert before / 2 < s["errors_per_s_before"] < 2 * before
    # one value per fact: the figures as the summary says them
    hosts = f"{s['errors_after_hosts']} host{'' if s['errors_after_hosts'] == 1 else 's'}"
    assert (f"its clients' errors went on {s['errors_after_s']} s after Redis was back ({s['errors_after']:,} from "
            f"{hosts}), {s['errors_per_s_after']:,.0f} a second against {s['errors_per_s_before']:,.0f} before it, "
            f"within the {s['errors_per_s_top']:,.0f} its {s['errors_seconds']} seconds before predict (95 %)"
            ) in report.summary
    assert "persisted" not in report.summary and "It was amplified" not in report.summary
    assert "Nothing amplified it" in report.summary
    assert "Connected clients at maxclients and rejected connections began before it." in report.summary
    # the causes: the clients' configurations are risks the outage found, not amplifiers of it
    groups = dict(report.causes)
    assert not groups["amplifiers"] and {report.findings[i].rule_id for i in groups["risks"]} >= {"PM402", "PM404"}


@pytest.mark.parametrize("name", LIFTED)
def test_errors_the_outage_raised_still_persist(name):
    facts, report = facts_and_report(name)
    (pm102,) = [f for f in report.findings if f.rule_id == "PM102"]
    s = pm102.stats
    assert f"Errors persisted {s['persistence_s']} s after Redis was back" in report.summary
    assert "It was amplified by" in report.summary and "triggered a reconnect storm" in report.summary
    (pm103,) = [f for f in report.findings if f.rule_id == "PM103"]
    assert pm103.stats.get("errors_after") is None and "errors went on" not in report.summary


def test_a_restarted_server_answers_again_at_its_ready_line_not_at_its_last_accepts():
    """storm-rate50-long-16: the old server logged 42 `Accepted` lines from 14:40:54.611 to .625, after the clients' first
    failure (54.598) and up to its shutdown line (54.625); PM101's count began there until session 18, 6.1 s of a server
    that answered nobody in its window (`storm.answered_again`)."""
    from postmortem.analysis.correlate import build_context
    from postmortem.analysis.detectors.storm import answered_again
    from postmortem.analysis.pipeline import AnalyzeOptions, analyze

    facts = json.loads((RECORDED / "storm-rate50-long-16.facts.json").read_text())
    _, ingested = analyze([str(RECORDED / "storm-rate50-long-16")], AnalyzeOptions(redact=False))
    events = ingested.events
    (outage,) = build_context(events, ingested.inputs, ingested.assumptions).outages
    assert outage.start < outage.server_down < outage.server_up
    back = answered_again(events, outage)
    assert back == outage.server_up
    assert abs((back - _iso(facts["outage"]["end"])).total_seconds()) < 0.1  # the recorder's first answered ping
