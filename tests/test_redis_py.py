"""redis-py recognizer: every corpus snippet, each Python envelope, config parsing, and no false claims.

Fixtures in tests/data/redis_py/ are constructed from the verbatim templates of formats.md §2.2
inside the envelopes real apps use; tests/data/corpus/ is real pasted text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers.base import ParseContext
from parsers.redis_py import RedisPyRecognizer, _first_found
from postmortem.input.log_text import parse_log_text
from postmortem.redaction import redact_events

from .conftest import DATA

CORPUS = DATA / "corpus"
FIXTURES = DATA / "redis_py"

# snippet -> the redis_py kinds it must yield (INDEX.md signal). None: no redis-py text survives in the
# snippet (only celery/django frames, prose, or raw RESP), so nothing may be claimed.
EXPECTED: dict[str, set[str] | None] = {
    "pinterest/snappass#6": {"redis.connect_failed"},
    "redis/redis-py#1466": {"redis.connect_failed"},
    "akulakov/django-mcbv#7": {"redis.connect_failed"},
    "ScanOC/trunk-player#35": {"redis.connect_failed"},
    "oppia/oppia#23687": {"redis.connection_lost"},
    "redis/redis-py#1796": {"redis.connection_lost"},
    "celery/celery#3046": {"redis.timeout"},
    "Suor/django-cacheops#315": {"redis.error"},  # read path, exception line cut off
    "celery/celery#2606": None,
    "redis/redis-py#668": None,
    "robotics-4-all/commlib-py#23": {"redis.connect_failed"},
    "IBM/mcp-context-forge#4724 (root-cause config arithmetic)": None,
    "WeblateOrg/weblate#3529": {"redis.loading"},
    "TransformerOptimus/SuperAGI#1377": {"redis.reconnect_attempt"},
    "Netflix-Skunkworks/sketchy#28": {"redis.reconnect_attempt", "redis.config"},
    "PostHog/posthog#3028": {"redis.connect_failed"},
    "openwisp/openwisp-controller#158": {"redis.reconnect_attempt"},
    "honmaple/maple-bbs#41": {"redis.connect_failed", "redis.error"},
    "CERT-Polska/karton#184": None,
    "bytedeck/bytedeck#1226": {"redis.connection_lost"},
    "nickjj/docker-django-example#12": {"redis.connect_failed"},
    "django/channels#783": {"redis.connection_lost"},
}


def snippets(name: str) -> dict[str, str]:
    parts = re.split(r"(?m)^=== SOURCE: (.+) ===\n", (CORPUS / name).read_text(encoding="utf-8"))
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def parse(text: str, path: str = "app.log"):
    return parse_log_text(text, ParseContext(path=path))


def attrs(row: dict) -> dict:
    return json.loads(row["attrs"] or "{}")


def test_expected_table_covers_the_corpus():
    assert set(EXPECTED) == set(snippets("redis-py.txt"))


@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_corpus_snippet_kinds(source):
    result = parse(snippets("redis-py.txt")[source])
    kinds = set(result.events.filter(pl.col("source") == "redis_py").get_column("kind"))
    assert kinds == (EXPECTED[source] or set()), kinds


@pytest.mark.slow
@pytest.mark.parametrize("name", ["other-clients.txt", "stackexchange-redis.txt", "redis-server.txt", "k8s-events.txt"])
def test_other_sources_are_never_redis_py(name):
    for source, body in snippets(name).items():
        events = parse(body).events
        assert events.filter(pl.col("source") == "redis_py").height == 0, source


def test_corpus_fields():
    s = snippets("redis-py.txt")
    row = parse(s["TransformerOptimus/SuperAGI#1377"]).events.filter(pl.col("source") == "redis_py").row(0, named=True)
    assert row["entity"] == "redis:super__redis:6379"
    assert attrs(row).items() >= {"errno": 111, "retry_in_s": 2.0, "attempt": 1, "max_attempts": 100}.items()
    row = parse(s["openwisp/openwisp-controller#158"]).events.filter(pl.col("source") == "redis_py").row(0, named=True)
    assert (attrs(row)["errno"], attrs(row)["attempt"], attrs(row)["retry_in_s"]) == (99, 3, 6.0)
    row = parse(s["akulakov/django-mcbv#7"]).events.filter(pl.col("source") == "redis_py").row(0, named=True)
    assert attrs(row)["errno"] == 10061 and row["entity"] == "redis:localhost:6379"
    rows = parse(s["Netflix-Skunkworks/sketchy#28"]).events.filter(pl.col("kind") == "redis.reconnect_attempt")
    assert [attrs(r)["retry_in_s"] for r in rows.iter_rows(named=True)] == [2.0, 4.0]  # backoff evidence
    row = parse(s["celery/celery#3046"]).events.filter(pl.col("source") == "redis_py").row(0, named=True)
    assert attrs(row)["exception"] == "TimeoutError" and row["level"] == "error" and row["ts"] is not None


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.log")), ids=lambda p: p.stem)
def test_envelope_golden(path, golden):
    result = parse(path.read_text(encoding="utf-8"), path.name)
    assert result.lines == result.event_lines + result.unrecognized_lines + result.blank_lines
    lines = [f"# {path.name}: {result.label}, {result.lines} lines, {result.records} records"]
    for r in result.events.iter_rows(named=True):
        lines.append(f"{r['line']}\t{r['source']}\t{r['kind']}\t{r['level']}\t{r['ts']}\t{r['entity']}\t"
                     f"{r['message']}\t{r['attrs']}")
    golden(f"redis_py_{path.stem}.txt", "\n".join(lines) + "\n")


def test_whole_traceback_is_one_record_and_chain_keeps_the_propagated_error():
    result = parse((FIXTURES / "chained.log").read_text(encoding="utf-8"))
    first = result.events.row(0, named=True)
    assert first["kind"] == "redis.connect_failed" and first["line"] == 1
    a = attrs(first)
    assert a["wrapper"].endswith("ConnectionInterrupted") and a["errno"] == 111
    assert result.events.filter(pl.col("message").str.contains("KeyError")).height == 0


def _blob(events: pl.DataFrame) -> str:
    return " ".join(events.get_column("message").to_list() + events.get_column("attrs").to_list())


def test_secrets_stay_raw_in_events_until_the_one_redaction_pass():
    """Recognizers keep text as logged (so --no-redact shows it); `redact_events` removes every secret."""
    seen = set()
    for name in ("config.log", "celery.log", "json.log"):
        events = parse((FIXTURES / name).read_text(encoding="utf-8")).events.filter(pl.col("source") == "redis_py")
        seen |= {s for s in ("hunter2", "s3cr3t", "Pa55w0rd") if s in _blob(events)}
        redacted = _blob(redact_events(events))
        for secret in ("hunter2", "s3cr3t", "Pa55w0rd"):
            assert secret not in redacted, (name, secret)
    assert seen, "the fixtures hold secrets, so the raw events must show some"


def test_config_options_and_versions():
    events = parse((FIXTURES / "config.log").read_text(encoding="utf-8")).events
    cfg = {r["line"]: attrs(r) for r in events.filter(pl.col("kind") == "redis.config").iter_rows(named=True)}
    assert cfg[1].items() >= {"version": "5.0.1", "backoff": "NoBackoff", "retries": "-1", "max_connections": "None",
                          "socket_timeout": "None", "client": "redis_py"}.items()
    assert cfg[2].items() >= {"pool": "BlockingConnectionPool", "max_connections": "20", "timeout": "2",
                          "health_check_interval": "30", "socket_connect_timeout": "2"}.items()
    assert cfg[3].items() >= {"host": "cache.example.com", "port": "6380", "db": "1", "socket_timeout": "5",
                          "max_connections": "50", "health_check_interval": "10"}.items()
    assert cfg[4].items() >= {"backoff": "ExponentialBackoff", "retries": "3", "retry_on_timeout": "True"}.items()
    assert cfg[5]["version"] == "4.6.0"
    assert cfg[6].items() >= {"backoff": "ConstantBackoff", "backoff_args": "0.5", "retries": "5"}.items()
    assert cfg[7]["max_connections"] == "100"
    assert 8 not in cfg  # django-redis==, hiredis== are not redis-py versions


def test_shared_server_replies_need_python_context():
    bare = "ERR max number of clients reached\nReplyError: NOAUTH Authentication required.\n"
    assert parse(bare).events.filter(pl.col("source") == "redis_py").height == 0
    js = ("[ioredis] Unhandled error event: ReplyError: ERR max number of clients reached\n"
          "    at Socket.<anonymous> (/app/node_modules/ioredis/built/redis/index.js:1:1)\n")
    assert parse(js).events.filter(pl.col("source") == "redis_py").height == 0


def test_samples_are_recognized():
    rec = RedisPyRecognizer()
    for sample in rec.samples:
        events = parse(sample).events
        assert events.filter(pl.col("source") == "redis_py").height >= 1, sample


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.text(max_size=120),
    st.sampled_from([
        "redis.exceptions.ConnectionError: Error 111 connecting to x:6379. Connection refused.",
        "Traceback (most recent call last):", '  File "/x/redis/connection.py", line 1, in connect',
        "Trying again in 2.00 seconds... (1/100)", "Redis(host='a', password='p', max_connections=None)",
        "[2024-01-01 00:00:00,000: ERROR/MainProcess] consumer: Cannot connect to redis://a:1/0: Error 111",
        "ConnectionError: max number of clients reached", "    at x (y.js:1:1)", "",
    ]),
), max_size=25))
@pytest.mark.slow
def test_arbitrary_text_never_crashes_and_lines_add_up(lines):
    text = "\n".join(lines)
    result = parse(text)
    assert result.lines == result.event_lines + result.unrecognized_lines + result.blank_lines
    assert result.events.filter(pl.col("source") == "redis_py").get_column("attrs").map_elements(
        lambda a: isinstance(json.loads(a), dict), return_dtype=pl.Boolean).all() in (True, None)


def test_fixture_files_are_small():
    assert all(p.stat().st_size < 200_000 for p in Path(FIXTURES).iterdir())


# --- WATCH: a pipeline's lost connection vs an optimistic-lock conflict ---------------------------------------
# redis-py's own wordings (client.py Pipeline: _disconnect_reset_raise / _disconnect_raise_reset, 8.x
# _disconnect_raise_on_watching; _execute_transaction for the conflict), each as an app logs str(e).
WATCH_WORDINGS = {
    "A ConnectionError occured on while watching one or more keys": "redis.connection_lost",  # 2.x-3.x, aioredis
    "A ConnectionError occurred on while watching one or more keys": "redis.connection_lost",  # 4.x-7.x
    "A ConnectionError occurred while watching one or more keys": "redis.connection_lost",  # 8.x
    "A TimeoutError occurred while watching one or more keys": "redis.timeout",  # 8.x, a timed-out read
    "A timeout occurred while watching one or more keys": "redis.timeout",  # 8.x, socket.timeout before 3.10
    "A BusyLoadingError occurred while watching one or more keys": "redis.loading",  # a ConnectionError subclass
}


@pytest.mark.parametrize("wording", sorted(WATCH_WORDINGS))
def test_lost_while_watching_wordings(wording):
    line = f"2026-11-23 03:08:31,428 WARNING app.jobs - redis call failed (attempt 1), retrying in 0.25s: {wording}\n"
    events = parse(line).events
    row = events.row(0, named=True)
    assert (events.height, row["source"], row["kind"]) == (1, "redis_py", WATCH_WORDINGS[wording])
    a = attrs(row)
    assert a["exception"] == "WatchError" and a["error"] == wording
    assert a["cause"] == wording.split()[1]


def test_watch_fixture_kinds_and_fields():
    result = parse((FIXTURES / "watch.log").read_text(encoding="utf-8"))
    kinds = {r["line"]: (r["source"], r["kind"]) for r in result.events.iter_rows(named=True)}
    assert kinds == {
        1: ("redis_py", "redis.connection_lost"),  # traceback through _disconnect_reset_raise
        18: ("redis_py", "redis.connection_lost"),
        19: ("redis_py", "redis.timeout"),
        20: ("redis_py", "redis.connection_lost"),  # "WatchError: ... occured on while"
        21: ("redis_py", "redis.error"),  # Watched variable changed.: a conflict, not a connectivity failure
        34: ("app", "app.log"),  # the bare conflict wording without the class is not claimed
        35: ("app", "app.log"),  # another program's "Watched variable changed:"
    }
    first = result.events.row(0, named=True)
    assert first["message"] == "redis.exceptions.WatchError: A ConnectionError occurred on while watching one or more keys"
    conflict = result.events.filter(pl.col("line") == 21).row(0, named=True)
    assert conflict["message"] == "redis.exceptions.WatchError: Watched variable changed."  # not the `raise` line
    assert attrs(conflict) == {"exception": "WatchError", "error": "Watched variable changed."}


@pytest.mark.parametrize(("text", "kind"), [
    ("[2024-05-02 10:15:02,300: WARNING/ForkPoolWorker-2] Task app.tasks.reserve[5f1c] retry: Retry in 1s: "
     "WatchError('A ConnectionError occurred on while watching one or more keys')", None),  # a retry (issue #17)
    ("[2024-05-02 10:15:03,400: WARNING/ForkPoolWorker-1] Task app.tasks.reserve[0b7e] retry: Retry in 1s: "
     "WatchError('Watched variable changed.')", None),  # a celery task retry is the retry recognizer's
    ("2024-05-02 10:15:03,001 WARNING app.cart - conflict: WatchError: Watched variable changed.", "redis.error"),
    ('    raise WatchError("Watched variable changed.")', None),  # a source line is not evidence
    ("2024-05-02 10:15:03,001 WARNING app - Sentinel failover occurred while watching one or more keys", None),
    ("2024-05-02 10:15:03,001 WARNING app - Watched variable changed.", None),
])
def test_watch_error_forms(text, kind):
    events = parse(text + "\n").events.filter(pl.col("source") == "redis_py")
    assert events.get_column("kind").to_list() == ([kind] if kind else [])


def _burst(tmp_path: Path, message: str) -> list:
    from postmortem.analysis.correlate import find_outages
    from postmortem.input.ingest import ingest

    lines = [f"2026-11-23 03:08:{10 + i:02d},000 WARNING app.jobs - job {i} failed: {message}" for i in range(12)]
    tmp_path.mkdir()
    (tmp_path / "worker.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    events = ingest([str(tmp_path)]).events
    assert events.filter(pl.col("source") == "redis_py").height == 12
    return find_outages(events)


def test_watch_conflicts_are_not_an_outage_but_lost_watches_are(tmp_path):
    from postmortem.analysis.correlate import ATTEMPT_KINDS, UNREACHABLE_KINDS

    assert "redis.error" not in UNREACHABLE_KINDS + ATTEMPT_KINDS
    assert _burst(tmp_path / "a", "redis.exceptions.WatchError: Watched variable changed.") == []
    lost = _burst(tmp_path / "b", "redis.exceptions.WatchError: A ConnectionError occurred while watching one or more keys")
    assert len(lost) == 1 and len(lost[0].event_ids) == 12


@pytest.mark.parametrize("text", [
    "redis.exceptions.OutOfMemoryError: OOM command not allowed when used memory > 'maxmemory'.",
    "Traceback (most recent call last):\n  File \"/app/jobs.py\", line 3, in run\n    pipe.execute()\n"
    "redis.exceptions.OutOfMemoryError: Command # 1 (SET job:7 1) of pipeline caused error: command not allowed "
    "when used memory > 'maxmemory'.",
])
def test_an_oom_reply_is_a_refused_write(text):
    kinds = parse(text).events.filter(pl.col("source") == "redis_py").get_column("kind").to_list()
    assert kinds == ["redis.oom"], kinds


def test_an_app_line_quoting_the_oom_reply_needs_python_context():
    line = "ERROR app.cache - cache read failed after 1 attempts: command not allowed when used memory > 'maxmemory'.\n"
    assert parse(line).events.filter(pl.col("kind") == "redis.oom").height == 0
    py = "redis.exceptions.ConnectionError: Error 111 connecting to r:6379. Connection refused.\n"
    assert parse(py + line).events.filter(pl.col("kind") == "redis.oom").height == 1
    java = "java.lang.OutOfMemoryError: Java heap space\n"  # the JVM's, not Redis's
    assert parse(py + java).events.filter(pl.col("kind") == "redis.oom").height == 0


@pytest.mark.parametrize("scenario", ["storm", "healthy", "eviction-16"])
def test_recorded_client_errors_match_what_the_recorder_measured(scenario):
    """Per pod, every error the recording clients counted is one redis_py event of the matching kind."""
    from postmortem.input.ingest import ingest

    recorded = DATA / "recorded"
    facts = json.loads((recorded / f"{scenario}.facts.json").read_text(encoding="utf-8"))
    events = ingest([str(recorded / scenario)]).events.filter(
        (pl.col("source") == "redis_py") & (pl.col("kind") != "redis.config"))
    kind_of = {"connection_refused": "redis.connect_failed", "max_clients": "redis.max_clients",
               "other:WatchError": "redis.connection_lost",  # the recordings' WatchErrors are lost watches
               "other:OutOfMemoryError": "redis.oom"}
    for pod, measured in facts["clients_by_pod"].items():
        found = dict(events.filter(pl.col("host") == pod).group_by("kind").len().iter_rows())
        assert found == {kind_of[k]: n for k, n in measured["errors"].items()}, pod


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(*[st.none() | st.sampled_from(["a", "b", ""])] * 3), min_size=1, max_size=12))
def test_the_first_found_column_is_the_coalesce_of_its_searches(rows):
    """`_first_found` searches the later alternatives only where the first found nothing: the column is still
    `coalesce` of all of them, row for row, in order (none found, all found, some found)."""
    df = pl.DataFrame(rows, schema=["x", "y", "z"], orient="row").with_row_index("rec")
    got = _first_found(df, "_hit", pl.col("x"), pl.col("y"), pl.col("z"))
    assert got.equals(df.with_columns(_hit=pl.coalesce("x", "y", "z")))
