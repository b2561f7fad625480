"""Blocking commands (issue #15, "slow server"): the SLOWLOG file parser, the app-line recognizer, redis-server's
slow-script warning, PM108 on the recorded slow-8 incident and its place in the story."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import ParseContext
from parsers.slow_commands import SlowCommandRecognizer, SlowlogFile
from postmortem.analysis.detectors import DETECTORS
from postmortem.analysis.detectors.slow_commands import BlockingFigures
from postmortem.analysis.pipeline import analyze
from postmortem.analysis.story import build_story
from postmortem.model import Confidence, Evidence, Finding, Severity
from reports.render import render

from .conftest import DATA
from .test_parser_registry import _records

RECORDED = DATA / "recorded"
SLOW = RECORDED / "slow-8"
FACTS = json.loads((RECORDED / "slow-8.facts.json").read_text())


def _attrs(df: pl.DataFrame) -> list[dict]:
    return [json.loads(a) for a in df.get_column("attrs").to_list()]


# --- SLOWLOG ---------------------------------------------------------------------------------------------------

def test_recorded_slowlog_entry_fields_and_accounting():
    text = (SLOW / "slowlog.txt").read_text()
    parsed = SlowlogFile().parse(text, ParseContext("slowlog.txt"))
    assert parsed.lines == 7 and parsed.event_lines == 7 and parsed.unrecognized_lines == 0
    (a,) = _attrs(parsed.events)
    assert a["command"] == "KEYS " + FACTS["parameters"]["slow_pattern"]
    assert a["duration_s"] == pytest.approx(2.348228)
    assert abs(a["duration_s"] - FACTS["slow_command"]["seconds"]) < 0.05
    assert a["client_name"] == "session-cleanup-29471040-iqvy9" and a["client"] == "127.0.0.1:44500"
    assert a["figure"] == "slowlog" and a["at"] == "end"
    row = parsed.events.row(0, named=True)
    assert row["kind"] == "redis.slow_command" and row["line"] == 1
    # the entry is written just after the command ended, to the second
    end = datetime.fromisoformat(FACTS["slow_command"]["end"].replace("Z", "+00:00"))
    assert timedelta(0) <= end - row["ts"] < timedelta(seconds=1)


def test_slowlog_with_prompt_old_layout_and_stray_lines():
    text = ('127.0.0.1:6379> SLOWLOG GET 3\n1) 1) (integer) 9\n   2) (integer) 1700000000\n   3) (integer) 1500000\n'
            '   4) 1) "DEBUG"\n      2) "SLEEP"\n      3) "1.5"\n\nsomething pasted here\n'
            '2) 1) (integer) 8\n   2) (integer) 1699999990\n   3) (integer) 20000\n   4) 1) "FLUSHDB"\n'
            '   5) "10.1.2.3:5000"\n   6) ""\n')
    parsed = SlowlogFile().parse(text, ParseContext("s.txt"))
    assert parsed.lines == parsed.event_lines + parsed.unrecognized_lines + parsed.blank_lines
    assert parsed.unrecognized_lines == 1 and parsed.blank_lines == 1
    first, second = _attrs(parsed.events)
    assert first["verb"] == "DEBUG SLEEP" and first["command"] == "DEBUG SLEEP 1.5" and first["client"] is None
    assert second["verb"] == "FLUSHDB" and second["client"] == "10.1.2.3:5000" and second["client_name"] is None


@pytest.mark.parametrize("text", ["(empty array)\n", "127.0.0.1:6379> SLOWLOG GET 128\n(empty array)\n",
                                  "(empty list or set)\n"])
def test_an_empty_slowlog_is_claimed_and_read_as_no_entry(text):
    """redis-cli's empty reply (a slow log with nothing in it, recorded slow-restart-16's `slowlog.txt`) is a whole
    reply: the slow log reader takes the file from the line framer, which counted it unrecognized (PM001)."""
    from postmortem.input.options import IngestOptions
    from postmortem.input.parser_choice import choose_parser

    assert choose_parser(text, "slowlog.txt", IngestOptions()) is not None
    parsed = SlowlogFile().parse(text, ParseContext("slowlog.txt"))
    assert parsed.unrecognized_lines == 0 and parsed.events.height == 0


def test_an_empty_reply_among_other_lines_is_not_claimed():
    from postmortem.input.options import IngestOptions
    from postmortem.input.parser_choice import choose_parser

    assert choose_parser("(empty array)\nsomething else\n", "x.txt", IngestOptions()) is None


_arg = st.text(st.characters(codec="utf-8", exclude_characters='"\\\n\r'), min_size=1, max_size=20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(10**9, 2 * 10**9), st.integers(0, 10**9),
                          st.lists(_arg, min_size=1, max_size=4), st.booleans()), min_size=1, max_size=6))
def test_slowlog_entries_round_trip(entries):
    """Any entries redis-cli could print come back field for field, every line accounted."""
    out = []
    for n, (sid, when, micros, argv, old) in enumerate(entries, 1):
        pad = " " * len(f"{n}) ")
        out.append(f"{n}) 1) (integer) {sid}\n{pad}2) (integer) {when}\n{pad}3) (integer) {micros}\n")
        out.append("".join(f"{pad if i else pad + '4) '}{'   ' if i else ''}{i + 1}) \"{a}\"\n"
                           for i, a in enumerate(argv)))
        if not old:
            out.append(f'{pad}5) "10.0.0.1:{sid % 65535}"\n{pad}6) "job-{sid}"\n')
    text = "".join(out)
    parsed = SlowlogFile().parse(text, ParseContext("s.txt"))
    assert parsed.lines == parsed.event_lines and parsed.unrecognized_lines == 0
    got = _attrs(parsed.events)
    assert [g["slowlog_id"] for g in got] == [e[0] for e in entries]
    assert [g["duration_s"] for g in got] == [round(e[2] / 1e6, 6) for e in entries]
    assert [g["argc"] for g in got] == [len(e[3]) for e in entries]
    assert [g["client_name"] for g in got] == [None if e[4] else f"job-{e[0]}" for e in entries]
    assert parsed.events.get_column("ts").to_list() == [datetime.fromtimestamp(e[1], UTC) for e in entries]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(codec="utf-8", exclude_characters="\r\x00"), max_size=400))
def test_slowlog_accounts_every_line_of_any_text(text):
    parsed = SlowlogFile().parse(text, ParseContext("s.txt"))
    assert parsed.lines == parsed.event_lines + parsed.unrecognized_lines + parsed.blank_lines


# --- application lines ----------------------------------------------------------------------------------------

def test_app_lines_timed_and_announced():
    text = (
        "2026-12-06 02:51:07,708 INFO app.cron - running KEYS pattern=user:session:*:expired\n"
        "2026-12-06 02:51:10,068 WARNING app.cron - KEYS took 2.36 s (0 keys matched)\n"
        "2026-12-06 02:51:11,000 INFO app.cron - FLUSHDB took 850 ms\n"
        "2026-12-06 02:51:12,000 INFO app.cron - EVALSHA rate:sweep took 1200ms\n"
        "2026-12-06 02:51:13,000 INFO app.web - GET /api/users took 300 ms\n"
        "2026-12-06 02:51:14,000 INFO app.web - request took 2 s\n"
        "2026-12-06 02:51:15,000 INFO app.cache - MGET took 3 ms\n"
        "2026-12-06 02:51:16,000 INFO app.cache - SCAN took 0.2 s\n"
    )
    hits = SlowCommandRecognizer().recognize(_records(text))
    got = {(a["command"], a["duration_s"], a["at"]) for a in _attrs(hits)}
    assert got == {
        ("KEYS user:session:*:expired", None, "start"),
        ("KEYS", 2.36, "end"),
        ("FLUSHDB", 0.85, "end"),
        ("EVALSHA rate:sweep", 1.2, "end"),
        ("SCAN", 0.2, "end"),
    }
    kinds = dict(zip(hits.get_column("message").to_list(), hits.get_column("kind").to_list(), strict=True))
    assert kinds["app.cron - running KEYS pattern=user:session:*:expired"] == "redis.blocking_command"
    assert kinds["app.cron - KEYS took 2.36 s (0 keys matched)"] == "redis.slow_command"


_UNITS = {"ms": 1e-3, "s": 1.0, "seconds": 1.0, "milliseconds": 1e-3, "us": 1e-6}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["KEYS", "FLUSHALL", "FLUSHDB", "EVALSHA", "DEL", "SMEMBERS", "HGETALL", "SCAN", "UNLINK"]),
       st.integers(0, 10**6), st.sampled_from(sorted(_UNITS)), st.sampled_from(["", " ", ": "]),
       st.sampled_from(["INFO", "WARNING", "DEBUG"]))
def test_timed_lines_read_their_duration(verb, n, unit, colon, level):
    """Any `<VERB> took N <unit>` line: claimed exactly when it took at least 10 ms, with its duration in s,
    whatever its level (noise folding must not hide it)."""
    took = "took:" if colon.strip() else "took"
    text = f"2026-12-06 02:51:10,068 {level} app.cron - {verb} {took} {n}{colon[:1] if not colon.strip() else ' '}{unit}\n"
    hits = SlowCommandRecognizer().recognize(_records(text))
    seconds = n * _UNITS[unit]
    if seconds < 0.01:
        assert hits.height == 0
        return
    (a,) = _attrs(hits)
    assert a["verb"] == verb and a["duration_s"] == pytest.approx(seconds, rel=1e-6)


def test_redis_server_slow_script_warning():
    from parsers.redis_server import RedisServerRecognizer

    text = ("1:M 06 Dec 2026 02:51:10.671 # Slow script detected: still in execution after 5003 milliseconds. "
            "You can try killing the script using the FUNCTION KILL command. Script name is: cleanup.\n")
    hits = RedisServerRecognizer().recognize(_records(text))
    assert hits.get_column("kind").to_list() == ["redis.slow_command"]
    (a,) = _attrs(hits)
    assert (a["verb"], a["command"], a["duration_s"], a["figure"]) == ("FCALL", "FCALL cleanup", 5.003, "server_log")


# --- PM108 on the recorded slow server -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def slow_report():
    report, _ = analyze([str(SLOW)])
    return report


def test_slow_server_summary_opens_with_the_command(slow_report):
    first_sentence = slow_report.summary.split(". ")[0]
    assert "KEYS user:session:*:expired" in first_sentence
    assert "session-cleanup-29471040-iqvy9" in first_sentence
    assert slow_report.chain("trigger")[0] == "PM108"


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_root_cause_section_leads_with_the_trigger_the_summary_opens_with(slow_report, fmt):
    """One order for the chain: the body's trigger list and the JSON story follow the summary's lead."""
    text = render(slow_report, fmt)
    if fmt == "json":
        assert json.loads(text)["story"]["trigger"][:2] == ["PM108", "PM100"]
    else:
        section = text[text.index("Root cause and trigger"):]
        assert section.index("PM108") < section.index("PM100")


def test_slow_server_finding_names_command_cites_lines_and_explains_timeouts(slow_report):
    ids = [f.rule_id for f in slow_report.findings]
    assert "PM108" in ids
    assert not {"PM101", "PM103", "PM106"} & set(ids), ids
    f = next(f for f in slow_report.findings if f.rule_id == "PM108")
    assert "KEYS user:session:*:expired" in f.title
    s = f.stats
    assert s["command"] == "KEYS user:session:*:expired" and s["duration_source"] == "slowlog"
    assert s["threshold_s"] == 0.5  # the pods' socket_timeout
    timeouts = FACTS["clients"]["errors_by_kind"]["timeout"]
    assert s["timeouts_explained"] == timeouts and s["pods_explained"] == FACTS["parameters"]["pods"]
    assert s["timeout_share"] == 1.0
    cited = {(e.path, e.line) for e in f.evidence}
    assert ("slowlog.txt", 1) in cited
    assert ("session-cleanup-29471040-iqvy9.log", 3) in cited  # `KEYS took 2.36 s`
    for e in f.evidence:
        lines = (SLOW / e.path).read_text(encoding="utf-8").splitlines()
        assert e.line <= len(lines)
    start = datetime.fromisoformat(FACTS["slow_command"]["start"].replace("Z", "+00:00"))
    assert abs((f.start - start).total_seconds()) < 0.1


def test_slowlog_alone_explains_the_timeouts(tmp_path):
    """Without the CronJob's log the SLOWLOG entry alone (dated to the second) still names the command,
    its client and the timeouts."""
    for p in SLOW.iterdir():
        if not p.name.startswith("session-cleanup"):
            (tmp_path / p.name).write_bytes(p.read_bytes())
    report, _ = analyze([str(tmp_path)])
    f = next(f for f in report.findings if f.rule_id == "PM108")
    assert f.stats["client"] == "session-cleanup-29471040-iqvy9" and f.stats["duration_source"] == "slowlog"
    assert f.stats["timeouts_explained"] == FACTS["clients"]["errors_by_kind"]["timeout"]
    assert "KEYS user:session:*:expired" in report.summary.split(". ")[0]
    assert "PM106" not in {x.rule_id for x in report.findings}


@pytest.mark.parametrize("folder", ["healthy-4", "hang-8"])
def test_no_blocking_command_without_one(folder):
    report, _ = analyze([str(RECORDED / folder)])
    assert "PM108" not in {f.rule_id for f in report.findings}


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["healthy", "healthy-16", "healthy-48", "storm", "eviction", "scaleout",
                                    "pair-healthy-8", "example-incident"])
def test_no_blocking_command_in_other_fixtures(folder):
    path = RECORDED / folder if (RECORDED / folder).exists() else DATA / folder
    report, _ = analyze([str(path)])
    assert "PM108" not in {f.rule_id for f in report.findings}


def test_short_command_below_the_client_timeout_is_not_blocking(tmp_path):
    """A slow command shorter than the clients' timeout blocked nobody: no finding."""
    (tmp_path / "api.log").write_text(
        "2026-12-06 02:51:05,299 INFO app.startup - redis client: Redis(host='cache', port=6379, socket_timeout=5.0)\n"
        "2026-12-06 02:51:10,068 WARNING app.cron - KEYS took 2.36 s (0 keys matched)\n")
    report, _ = analyze([str(tmp_path)])
    assert "PM108" not in {f.rule_id for f in report.findings}


def test_slow_script_and_busy_replies(tmp_path):
    """redis-server's slow-script warning comes mid-run; the BUSY replies after it extend the run."""
    (tmp_path / "redis-server.log").write_text(
        "1:M 06 Dec 2026 03:00:05.000 # Slow script detected: still in execution after 5000 milliseconds. You can "
        "try killing the script using the SCRIPT KILL command. Script name is: 1a2b3c.\n")
    busy = "redis.exceptions.ResponseError: BUSY Redis is busy running a script. You can only call SCRIPT KILL or " \
           "SHUTDOWN NOSAVE."
    for pod, seconds in (("api-1", (5, 7)), ("api-2", (6, 9)), ("api-3", (8,))):
        (tmp_path / f"{pod}.log").write_text("".join(
            f"2026-12-06 03:00:0{s},200 ERROR app.cache - cache read failed\nTraceback (most recent call last):\n"
            f'  File "/app/cache.py", line 9, in get\n{busy}\n' for s in seconds))
    report, result = analyze([str(tmp_path)])
    assert result.events.filter(pl.col("kind") == "redis.busy").height == 5
    f = next(f for f in report.findings if f.rule_id == "PM108")
    assert f.stats["command"] == "EVAL 1a2b3c" and f.stats["duration_source"] == "server_log"
    assert f.stats["busy_replies_explained"] == 5 and f.stats["pods_explained"] == 3
    assert f.stats["duration_s"] == pytest.approx(9.2)  # from 03:00:00 to the last BUSY reply
    assert report.summary.startswith("A 9.2 s `EVAL 1a2b3c` at 03:00:00 UTC blocked Redis: 5 BUSY replies on all 3 pods")


# --- the story ranks it by what it explains -------------------------------------------------------------------

def _finding(rule_id: str, figures, start: datetime) -> Finding:
    return Finding(rule_id, rule_id.lower(), Severity.HIGH, Confidence.HIGH, "t", start, start, (), {},
                   (Evidence("a.log", 1, start, "x"),), figures=figures)


@pytest.mark.parametrize("share,leads", [(0.9, True), (0.2, False)])
def test_story_leads_with_the_trigger_that_explains_most_errors(share, leads):
    t = datetime(2026, 12, 6, 2, 51, 7, tzinfo=UTC)
    blocking = BlockingFigures(
        command="KEYS *", duration_s=2.0, duration_source="slowlog", client="cron", client_address=None,
        threshold_s=0.5, threshold_source="socket_timeout", timeouts_explained=9, busy_replies_explained=0,
        pods_explained=3,
        pods_with_clients=3, timeouts_total=10, timeout_share=0.9, client_errors_total=10, error_share=share)
    story = build_story([_finding("PM100", None, t), _finding("PM108", blocking, t)], DETECTORS)
    assert story.summary.startswith("A 2.0 s `KEYS *` from cron") is leads
    assert (story.trigger[0] == "PM108") is leads
