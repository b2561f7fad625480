"""A command an app sent into a stalled server ran when the server ran again: its run is the app's end minus the
server's own duration (SLOWLOG), not the app's send time plus it.

slow-pause-20 and slow-pause-12 (session 18): the CronJob sent its `KEYS` a few ms into a 3 s SIGSTOP; its own
`took` line counts from the send (5.60 s, 8.62 s), SLOWLOG counts the run (2.42 s, 5.5 s). PM108 put the run at the
send, inside the pause, and counted the pause's timeouts as the KEYS's.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.recorded import facts_and_report


def _t(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["slow-pause-20", "slow-pause-12"])
def test_a_command_sent_into_a_pause_ran_after_it(name):
    facts, report = facts_and_report(name)
    (pm108,) = [f for f in report.findings if f.rule_id == "PM108"]
    resumed, replied = _t(facts["outage"]["end"]), _t(facts["slow_command"]["end"])
    assert resumed - timedelta(seconds=0.1) <= pm108.start <= replied
    run = pm108.stats["duration_s"]
    assert pm108.start + timedelta(seconds=run) == pytest.approx(replied, abs=timedelta(seconds=0.05))
