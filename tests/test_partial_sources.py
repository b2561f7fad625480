"""Reports on part of an incident's logs (session 15: blind recordings with a source removed). Without the server's
log nothing says when a server that refused its scraper came back: a reply only a listening server gives (a client's
`max number of clients reached`) does, and the scrapes refused after it are the storm, not the outage (scaleout-
nocfg-44 without its log: a 10.9 s outage for a 3.5 s restart). Without the clients' logs, no report may say the
clients logged no failure."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta

import pytest

from postmortem.analysis.pipeline import analyze

from .conftest import DATA

RECORDED = DATA / "recorded"


def _ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def _without_server_log(name: str, tmp_path):
    for f in (RECORDED / name).iterdir():
        if f.name not in ("redis-server.log", "slowlog.txt"):
            shutil.copy2(f, tmp_path / f.name)
    return json.loads((RECORDED / f"{name}.facts.json").read_text())["outage"]


@pytest.mark.slow
def test_without_the_server_log_the_first_maxclients_reply_ends_the_outage(tmp_path):
    truth = _without_server_log("scaleout-pause-nocfg-12", tmp_path)
    report, _ = analyze([str(tmp_path)])
    (outage,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert abs(outage.end - _ts(truth["end"])) < timedelta(milliseconds=200), (outage.end, truth["end"])
    assert abs(outage.stats["seconds"] - truth["seconds"]) < 0.3, outage.title
    assert "2 scrapes unanswered" in outage.title, outage.title  # not the 8 refused at maxclients after the pause
    assert report.summary.startswith(f"A {truth['seconds']:.1f} s Redis outage"), report.summary


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hang-48", "healthy-pause-32", "storm-pause-16"])
def test_without_client_logs_the_report_does_not_say_the_clients_logged_nothing(name, tmp_path):
    """The server's log and the export alone: the outage is there, what it did to the clients is not known."""
    for f in ("redis-server.log", "redis-exporter.prom"):
        shutil.copy2(RECORDED / name / f, tmp_path / f)
    report, _ = analyze([str(tmp_path)])
    (outage,) = [f for f in report.findings if f.rule_id == "PM100"]
    for text in (report.summary, outage.title):
        assert "no client logged a failure" not in text and "left no connection failure" not in text, text
    assert "no client log was among the inputs" in outage.title, outage.title
    if not any(f.rule_id == "PM101" for f in report.findings):  # the storm leads otherwise, told by the server
        assert "clients' failures unknown: no client log was among the inputs" in report.summary, report.summary


@pytest.mark.slow
@pytest.mark.parametrize("name", ["storm-pause-8", "storm-pause-16"])
def test_without_the_server_log_a_paused_storm_s_outage_is_the_pause(name, tmp_path):
    """The export refused at maxclients for 5 s after a 2.5 s pause: 6.7 s and 7.2 s outages before."""
    truth = _without_server_log(name, tmp_path)
    report, _ = analyze([str(tmp_path)])
    (outage,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert abs(outage.stats["seconds"] - truth["seconds"]) < 0.3, outage.title
    assert abs(outage.end - _ts(truth["end"])) < timedelta(milliseconds=300), (outage.end, truth["end"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["healthy-pause-20", "healthy-pause-32"])
def test_without_the_server_log_a_hang_lasts_until_the_scraper_was_answered(name, tmp_path):
    """One unanswered scrape and the calls the pause held: the window ended at its last sign (0.0 s and 0.1 s for a
    3.0 s pause); the scraper's next answered scrape began later, and the pause lasted at least until then."""
    truth = _without_server_log(name, tmp_path)
    report, _ = analyze([str(tmp_path)])
    (outage,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert outage.stats["at_least"] is True, outage.title
    assert truth["seconds"] / 2 < outage.stats["seconds"] <= truth["seconds"], outage.title
    assert outage.end <= _ts(truth["end"]), (outage.end, truth["end"])
    assert f"stopped answering for at least {outage.stats['seconds']:.1f} s" in report.summary, report.summary


@pytest.mark.slow
@pytest.mark.parametrize("name", ["slow-8", "slow-w1-40"])
def test_without_client_logs_a_blocking_command_is_not_said_to_have_caused_no_timeouts(name, tmp_path):
    """The server's log, its slowlog and the export: the KEYS run is known, its clients' timeouts are not (it read
    "0 client timeouts on 0 pods fell inside it")."""
    for f in ("redis-server.log", "redis-exporter.prom", "slowlog.txt"):
        shutil.copy2(RECORDED / name / f, tmp_path / f)
    report, _ = analyze([str(tmp_path)])
    assert any(f.rule_id == "PM108" for f in report.findings), report.summary
    assert "on 0 pods" not in report.summary, report.summary
    assert "blocked Redis; what it did to the clients is unknown: no client log was among the inputs" in report.summary


@pytest.mark.slow
@pytest.mark.parametrize("name", ["storm-pause-8", "storm-pause-16", "storm-pause-sparse-16", "scaleout-pause-nocfg-12",
                                  "scaleout-pause-16"])
def test_without_the_server_log_a_storm_counted_across_refused_scrapes_is_not_one_second(name, tmp_path):
    """The exporter's scrapes were refused at maxclients for the whole storm, so its counters' one rise landed in the
    second of the next answered scrape: "in 1.0 s ... peaking at" a rate that was the mean over 8 s. The storm lay
    between the server answering again and that scrape, and was still refusing at the last refused scrape: the
    report gives that range, which holds the server's true busy span (resumed to first ping answered). The
    scaleouts' next answered sample counted the storm's last refusals too: it ended by that sample and ran past the
    one before it ("in 7.8 s" and "in 7.0 s", to the end of the later sample's second, for 5.8 s until session 17)."""
    truth = _without_server_log(name, tmp_path)
    busy = (_ts(truth["first_ping_after"]) - _ts(truth["end"])).total_seconds()
    report, _ = analyze([str(tmp_path)])
    (storm,) = [f for f in report.findings if f.rule_id == "PM101"]
    s = storm.stats
    assert s["least_seconds"] - 0.3 <= busy <= s["seconds"] + 0.3, (busy, storm.title)
    assert f"in {s['least_seconds']} to {s['seconds']} s" in storm.title, storm.title
    assert "peaking" not in storm.title and "on average" in storm.title, storm.title  # no second was counted alone
    assert s["peak_new_connections_per_s"] == round(s["attempts"] / s["seconds"]), s
    assert f"{s['attempts']:,} new connections in {s['least_seconds']} to" in report.summary, report.summary


def _copy(name: str, tmp_path, keep) -> None:
    for f in (RECORDED / name).iterdir():
        if keep(f.name):
            shutil.copy2(f, tmp_path / f.name)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["slow-nocfg-32", "slow-nocfg-40", "slow-w1-40"])
def test_with_server_log_and_export_alone_a_keys_run_and_its_unanswered_scrapes_are_one_episode(name, tmp_path):
    """The slowlog's KEYS and the scrapes it left unanswered share no line (no client log to cite in common), and
    were told as two triggers: "A 13.7 s KEYS ... blocked Redis ... A 13.5 s Redis outage ... left its clients'
    failures unknown". A single-threaded server answers no one while the command runs: one episode, the KEYS."""
    _copy(name, tmp_path, lambda f: f in ("redis-server.log", "slowlog.txt", "redis-exporter.prom"))
    report, _ = analyze([str(tmp_path)])
    rules = [f.rule_id for f in report.findings]
    assert "PM100" in rules and "PM108" in rules, rules  # both still found, and both in the causes
    assert report.chain("trigger")[0] == "PM108", report.chain("trigger")
    assert report.summary.startswith("A ") and "`KEYS " in report.summary[:40], report.summary
    assert "Redis outage" not in report.summary, report.summary


@pytest.mark.slow
@pytest.mark.parametrize("name", ["slow-8", "slow-nocfg-40", "slow-w1-40"])
def test_the_batch_index_names_the_trigger_the_summary_leads_with(name, tmp_path):
    """Without the server log the summary leads with the KEYS (its timeouts explain the clients' errors), while the
    batch index took the most severe trigger, ties to the lowest rule ID: "stopped answering for 4.9 s" (PM100)."""
    from postmortem.batch.summary import summary_from_json
    from reports.render import render

    _copy(name, tmp_path, lambda f: f not in ("redis-server.log", "slowlog.txt"))
    report, _ = analyze([str(tmp_path)])
    assert report.chain("trigger")[0] == "PM108", report.summary
    row = summary_from_json(name, render(report, "json"))
    assert row.trigger() is not None and row.trigger().rule_id == "PM108", row.trigger()
    assert row.root_cause() is not None and row.root_cause().rule_id != "PM100", row.root_cause()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["healthy-pause-16", "healthy-pause-48", "slow-24"])
def test_a_report_with_no_finding_says_which_sources_were_missing_in_every_format(name, tmp_path):
    """The server's log and the export alone, nothing found: the report said what it read, not what it could not
    have seen (the clients' timeouts of a pause, pods restarted)."""
    from postmortem.analysis.source_kinds import SOURCE_KINDS
    from reports.render import render

    _copy(name, tmp_path, lambda f: f in ("redis-server.log", "slowlog.txt", "redis-exporter.prom"))
    report, _ = analyze([str(tmp_path)])
    assert not [f for f in report.findings if f.rule_id not in ("PM001", "PM002")], report.summary
    kinds = {k.name: k for k in SOURCE_KINDS}
    said = (f"Not among the inputs: client logs, which would show {kinds['client logs'].unknown}; "
            f"Kubernetes events, which would show {kinds['Kubernetes events'].unknown}.")
    assert report.summary.endswith(said), report.summary
    assert "server log, which" not in report.summary and "metrics export, which" not in report.summary
    for fmt in ("md", "html", "json", "jira"):
        text = render(report, fmt)
        assert "Not among the inputs: client logs" in text, fmt
