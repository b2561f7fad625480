"""Queues and databases behind the cache (parsers/queues.py, parsers/db_pools.py, parsers/metrics/rabbitmq_queues.py)
and the cascade rule (PM601) on a real recording (tests/data/recorded/cascade*, tools/record_cascade.py)."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.base import ParseContext
from parsers.db_pools import DbPoolRecognizer
from parsers.metrics.rabbitmq_queues import RabbitQueues
from postmortem.analysis.pipeline import analyze
from postmortem.input.ingest import ingest

from .test_parser_registry import _records

DATA = Path(__file__).parent / "data"
RECORDED = DATA / "recorded"
CASCADES = ("cascade", "cascade-8", "cascade-blocked", "cascade-blocked-8")
CTX = ParseContext("rabbit/queues.txt", now=datetime(2026, 1, 1, tzinfo=UTC))


def _ingest(tmp_path: Path, name: str, text: str) -> pl.DataFrame:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = ingest([str(path)])
    (info,) = result.inputs
    assert info.accounted(), info
    return result.events


def _attrs(row: dict) -> dict:
    return json.loads(row["attrs"] or "{}")


# ------------------------------------------------------------------------------------------ brokers

CELERY_AMQP = """\
[2024-12-12 13:24:40,001: INFO/MainProcess] Connected to amqp://guest:**@rabbitmq:5672//
[2024-12-12 13:24:50,001: WARNING/MainProcess] consumer: Connection to broker lost. Trying to re-establish the connection...
[2024-12-12 13:24:50,101: ERROR/MainProcess] consumer: Cannot connect to amqp://guest:**@rabbitmq:5672//: [Errno 111] Connection refused.
Trying again in 2.00 seconds... (1/100)
"""
CELERY_REDIS = CELERY_AMQP.replace("amqp://guest:**@rabbitmq:5672//", "redis://redis:6379/0").replace(
    "[Errno 111] Connection refused.", "Error 111 connecting to redis:6379. Connection refused..")


def test_celery_broker_loss_on_amqp_is_a_queue_event(tmp_path):
    events = _ingest(tmp_path, "worker-1.log", CELERY_AMQP)
    assert events.get_column("kind").to_list() == [
        "queue.broker_connected", "queue.broker_lost", "queue.broker_connect_failed"]
    assert set(events.get_column("source")) == {"queue"}
    failed = _attrs(events.row(2, named=True))
    assert failed["broker"] == "amqp" and failed["retry_in_s"] == 2.0 and failed["attempt"] == 1
    assert failed["max_attempts"] == 100
    assert events.row(2, named=True)["entity"] == "rabbitmq:rabbitmq:5672"


def test_celery_broker_that_is_redis_is_a_redis_client_error(tmp_path):
    """Decided by the URL the file names: the same `Connection to broker lost` is redis-py's here."""
    events = _ingest(tmp_path, "worker-1.log", CELERY_REDIS)
    assert events.get_column("kind").to_list() == [
        "redis.connection_restored", "redis.connection_lost", "redis.reconnect_attempt"]
    assert set(events.get_column("source")) == {"redis_py"}


def test_broker_loss_without_a_url_is_not_redis(tmp_path):
    line = ("[2017-12-14 10:27:00,330: WARNING/MainProcess] consumer: Connection to broker lost. Trying to "
            "re-establish the connection...\n")
    events = _ingest(tmp_path, "worker-1.log", line)
    row = events.row(0, named=True)
    assert (row["kind"], _attrs(row)["broker"]) == ("queue.broker_lost", "unknown")


def test_celery_task_retries_are_never_redis_events(tmp_path):
    text = ("[2024-01-15 10:02:14,120: INFO/ForkPoolWorker-3] Task orders.tasks.sync[8d1f4c7e-2f0b-4a55-9c1e-"
            "5b2a7d9e0c11] retry: Retry in 10s: ConnectionError('Error 111 connecting to redis:6379. Connection "
            "refused.')\n")
    events = _ingest(tmp_path, "worker-1.log", text)
    assert events.get_column("kind").to_list() == ["retry.attempt"]


def test_rabbitmq_alarm_and_its_banner(tmp_path):
    """RabbitMQ 3.10.8 (recorded here): the banner's lines are records of their own, at the alarm's time."""
    text = "\n".join(
        f"2026-12-06 05:35:47.754513+00:00 [warning] <0.287.0> {m}" for m in (
            "memory resource limit alarm set on node s17rabbit@localhost.", "",
            "**********************************************************",
            "*** Publishers will be blocked until this alarm clears ***",
            "**********************************************************", "")
    ) + ("\n2026-12-06 05:35:56.178797+00:00 [warning] <0.287.0> memory resource limit alarm cleared on node "
         "s17rabbit@localhost\n2026-12-06 05:35:56.178825+00:00 [warning] <0.287.0> memory resource limit alarm "
         "cleared across the cluster\n")
    events = _ingest(tmp_path, "rabbitmq-server.log", text)
    kinds = events.get_column("kind").to_list()
    assert kinds == ["queue.alarm"] + ["queue.alarm_banner"] * 5 + ["queue.alarm_cleared", "queue.alarm_banner"]
    alarm = events.row(0, named=True)
    assert alarm["entity"] == "rabbitmq:s17rabbit@localhost"
    assert _attrs(alarm) == {"alarm": "memory", "node": "s17rabbit@localhost"}


def test_closing_amqp_connection_3_10_layout(tmp_path):
    line = ("2026-12-06 05:42:17.482093+00:00 [info] <0.791.0> closing AMQP connection <0.791.0> "
            "(127.0.0.1:50996 -> 127.0.0.1:38783, vhost: '/', user: 'guest')\n")
    row = _ingest(tmp_path, "rabbitmq-server.log", line).row(0, named=True)
    assert row["kind"] == "queue.connection_closed"
    assert _attrs(row) == {"connection": "0.791.0", "client": "127.0.0.1:50996", "server": "127.0.0.1:38783"}


# pika's own wording (pika/connection.py `_on_connection_blocked` / `_on_connection_unblocked`: `Received %s from broker`,
# the frame by its repr, as pika 1.3.2 prints it), behind the recorder's Python logging layout
PIKA_BLOCKED = ("Received <METHOD(['channel_number=0', 'frame_type=1', \"method=<Connection.Blocked(['reason={reason}'])>\"])>"
                " from broker")
PIKA_UNBLOCKED = "Received <METHOD(['channel_number=0', 'frame_type=1', 'method=<Connection.Unblocked>'])> from broker"


def _pika_log(*rows: tuple[str, str, str]) -> str:
    return "".join(f"{ts} {level} pika.connection - {text}\n" for ts, level, text in rows)


def test_pika_publisher_blocked_and_unblocked(tmp_path):
    text = _pika_log(("2024-03-02 10:15:07,412", "WARNING", PIKA_BLOCKED.format(reason="low on memory")),
                     ("2024-03-02 10:15:39,118", "INFO", PIKA_UNBLOCKED))
    events = _ingest(tmp_path, "publisher-1.log", text)
    assert events.get_column("kind").to_list() == ["queue.publisher_blocked", "queue.publisher_unblocked"]
    assert set(events.get_column("source")) == {"queue"}
    assert _attrs(events.row(0, named=True)) == {"reason": "low on memory"}


@settings(max_examples=60)
@given(reason=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="'\n"), max_size=40),
       level=st.sampled_from(["WARNING", "INFO", "ERROR"]))
def test_pika_block_reason_survives_any_text(reason, level):
    """Whatever reason the broker sends, the line is one blocked-publisher event and the reason is kept as sent."""
    rec = _records(_pika_log(("2024-03-02 10:15:07,412", level, PIKA_BLOCKED.format(reason=reason))))
    from parsers.queues import QueueRecognizer

    row = QueueRecognizer().recognize(rec).row(0, named=True)
    assert row["kind"] == "queue.publisher_blocked"
    assert _attrs(row).get("reason") == reason


def test_a_redis_error_quoted_beside_pika_is_still_redis(tmp_path):
    """Only pika's frame is claimed: a redis-py error on the next line stays a Redis event."""
    text = _pika_log(("2024-03-02 10:15:07,412", "WARNING", PIKA_BLOCKED.format(reason="low on disk"))) + (
        "2024-03-02 10:15:07,500 ERROR app.cache - redis GET user:1 failed: ConnectionError: Error 111 connecting to "
        "redis:6379. Connection refused.\n")
    events = _ingest(tmp_path, "publisher-1.log", text)
    assert events.get_column("source").to_list() == ["queue", "redis_py"]


# ------------------------------------------------------------------------------------------ databases


@pytest.mark.parametrize(("sample", "expected"), [
    (DbPoolRecognizer.samples[0], {"library": "npgsql", "pool_size": 100, "timeout_s": 15.0}),
    (DbPoolRecognizer.samples[2], {"library": "sqlalchemy", "pool_size": 5, "overflow": 10, "timeout_s": 30.0}),
    (DbPoolRecognizer.samples[4], {"library": "hikaricp", "pool": "HikariPool-1", "pool_size": 10, "waited_s": 30.005,
                                   "active": 10, "idle": 0, "waiting": 42}),
    (DbPoolRecognizer.samples[5], {"library": "sqlclient"}),
])
def test_pool_exhaustion_fields(sample, expected):
    hits = DbPoolRecognizer().recognize(_records(sample))
    row = hits.row(0, named=True)
    assert row["kind"] == "db.pool_exhausted"
    assert _attrs(row) == expected


def test_pool_entity_names_the_database_when_the_record_does():
    text = ("2024-03-02 10:15:04,221 ERROR app Timeout expired.  The timeout period elapsed prior to obtaining a "
            "connection from the pool. (Server=sql-prod-1;Database=orders)")
    row = DbPoolRecognizer().recognize(_records(text)).row(0, named=True)
    assert row["entity"] == "db:sql-prod-1"


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 10_000), overflow=st.integers(-1, 10_000), timeout=st.floats(0, 3600, allow_nan=False))
def test_sqlalchemy_figures_survive_any_value(size, overflow, timeout):
    line = (f"2024-03-02 10:15:04,221 ERROR app sqlalchemy.exc.TimeoutError: QueuePool limit of size {size} overflow "
            f"{overflow} reached, connection timed out, timeout {timeout:0.2f}")
    a = _attrs(DbPoolRecognizer().recognize(_records(line)).row(0, named=True))
    assert (a["pool_size"], a["overflow"], a["timeout_s"]) == (size, overflow, float(f"{timeout:0.2f}"))


@settings(max_examples=60, deadline=None)
@given(pool=st.from_regex(r"[A-Za-z][A-Za-z0-9_.\-]{0,30}", fullmatch=True), ms=st.integers(0, 10**7),
       counts=st.tuples(*[st.integers(0, 10_000)] * 4), period=st.booleans())
def test_hikaricp_both_layouts_survive_any_value(pool, ms, counts, period):
    """HikariPool.createTimeoutException: `… after {n}ms.` up to 5.0.1, `… after {n}ms (total=…, waiting=…)` from 5.1.0."""
    total, active, idle, waiting = counts
    tail = "." if period else f" (total={total}, active={active}, idle={idle}, waiting={waiting})"
    line = ("2024-03-02 10:15:04.221 ERROR 1 --- [nio-8080-exec-7] o.h.engine.jdbc.spi.SqlExceptionHelper   : "
            f"{pool} - Connection is not available, request timed out after {ms}ms{tail}")
    a = _attrs(DbPoolRecognizer().recognize(_records(line)).row(0, named=True))
    assert (a["library"], a["pool"], a["waited_s"]) == ("hikaricp", pool, ms / 1000.0)
    if period:
        assert "pool_size" not in a and "waiting" not in a
    else:
        assert (a["pool_size"], a["active"], a["idle"], a["waiting"]) == counts


# ------------------------------------------------------------------------------------------ queue snapshots


def _parse(text: str):
    fp = RabbitQueues().parse(text, CTX)
    assert fp.lines == fp.event_lines + fp.unrecognized_lines + fp.blank_lines
    return fp


def test_rabbitmqctl_without_header_three_columns_and_pretty_table():
    quiet = _parse("celery\t1523\t0\nemails\t4\t1\n")  # `-q --no-table-headers name messages consumers`
    assert quiet.events.select("entity", "metric", "value").rows()[:2] == [
        ("rabbitmq:celery", "rabbitmq_queue_messages", 1523.0), ("rabbitmq:celery", "rabbitmq_queue_consumers", 0.0)]
    pretty = _parse("┌────────┬──────────┐\n│ name   │ messages │\n├────────┼──────────┤\n│ celery │ 1523     │\n"
                    "└────────┴──────────┘\n")
    assert pretty.events.select("metric", "value").rows() == [("rabbitmq_queue_messages", 1523.0)]
    assert pretty.unrecognized_lines == 0


def test_snapshots_over_time_take_their_date_lines():
    fp = _parse("Sun Dec  6 03:08:00 UTC 2026\n$ rabbitmqctl list_queues -p billing name messages_ready consumers\n"
                "Listing queues for vhost billing ...\ninvoices\t3\t2\n"
                "2026-12-06T03:08:30Z\n[{\"name\":\"invoices\",\"vhost\":\"billing\",\"messages_ready\":900,"
                "\"consumers\":0}]\n")
    rows = fp.events.select("ts", "entity", "metric", "value").rows()
    assert rows == [
        (datetime(2026, 12, 6, 3, 8, tzinfo=UTC), "rabbitmq:invoices", "rabbitmq_queue_messages_ready", 3.0),
        (datetime(2026, 12, 6, 3, 8, tzinfo=UTC), "rabbitmq:invoices", "rabbitmq_queue_consumers", 2.0),
        (datetime(2026, 12, 6, 3, 8, 30, tzinfo=UTC), "rabbitmq:billing/invoices", "rabbitmq_queue_messages_ready", 900.0),
        (datetime(2026, 12, 6, 3, 8, 30, tzinfo=UTC), "rabbitmq:billing/invoices", "rabbitmq_queue_consumers", 0.0),
    ]
    assert fp.unrecognized_lines == 0 and not fp.assumptions


def test_undated_snapshot_says_so():
    fp = _parse(RabbitQueues.samples[0])
    assert fp.events.get_column("ts").unique().to_list() == [CTX.now]
    assert fp.assumptions and "queue figures" in fp.assumptions[0]


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9._-]{0,20}", fullmatch=True), st.integers(0, 10**9),
                               st.integers(0, 5000)), min_size=1, max_size=20))
def test_every_row_survives_as_its_figures(rows):
    text = "Listing queues for vhost / ...\nname\tmessages\tconsumers\n" + "".join(
        f"{n}\t{m}\t{c}\n" for n, m, c in rows)
    fp = _parse(text)
    assert fp.unrecognized_lines == 0
    got = fp.events.filter(pl.col("metric") == "rabbitmq_queue_messages").select("entity", "value").rows()
    assert got == [(f"rabbitmq:{n}", float(m)) for n, m, _ in rows]


# ------------------------------------------------------------------------------------------ the cascade rule


def _facts(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.facts.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", CASCADES)
def test_recorded_cascade(name):
    """Real redis-server, PostgreSQL, RabbitMQ, SQLAlchemy and kombu: the queue and the pool, told with delays."""
    facts = _facts(name)
    report, result = analyze([str(RECORDED / name)])
    (f,) = [f for f in report.findings if f.rule_id == "PM601"]
    s = f.figures
    (queue,) = s.queues
    assert queue["queue"] == facts["queue"]
    assert queue["peak"] == facts["queue_peak"]  # the management API's figure, as the recorder saw it
    assert queue["baseline"] <= max(1, facts["queue_depth_before_max"])
    assert queue["ratio"] >= 3
    start = datetime.fromisoformat(facts["outage_start"])
    end = datetime.fromisoformat(facts["outage_end"])
    # the backlog shows within the outage (snapshots are dated to the second, every second)
    assert 0 <= queue["delay_s"] <= (end - start).total_seconds() + 1
    (pool,) = s.db_pools
    assert pool["library"] == facts["db_pool"]["library"]
    assert (pool["pool_size"], pool["timeout_s"]) == (facts["db_pool"]["pool_size"], facts["db_pool"]["timeout_s"])
    assert pool["events"] == facts["pool_timeouts"] and pool["before"] == 0
    assert pool["delay_s"] > 0
    assert s.single_point_of_failure and s.app_failures >= facts["http_500"]
    assert s.cache_miss_ratio is not None and s.cache_miss_ratio >= 3
    # every figure's source is a file:line of the incident, and the evidence cites them
    cited = {f"{e.path}:{e.line}" for e in f.evidence}
    for src in (queue["baseline_source"], queue["peak_source"], queue["delay_source"], pool["first_source"]):
        path, _, line = src.rpartition(":")
        assert (RECORDED / name / path).exists() and int(line) > 0
    assert queue["delay_source"] in cited and pool["first_source"] in cited
    assert "cascaded beyond Redis" in report.summary and "single point of failure" in report.summary


@pytest.mark.slow
def test_no_cascade_when_the_queue_was_already_that_deep(tmp_path):
    """Relative to the queue's own baseline: a queue as deep before the outage is no consequence of it."""
    folder = tmp_path / "cascade"
    shutil.copytree(RECORDED / "cascade", folder)
    facts = _facts("cascade")
    early = datetime.fromisoformat(facts["outage_start"]).timestamp() - 35
    stamp = datetime.fromtimestamp(early, tz=UTC).strftime("%a %b %e %H:%M:%S UTC %Y")
    api = folder / "rabbitmq-api-queues.txt"
    deep = json.dumps([{"name": facts["queue"], "vhost": "/", "messages": facts["queue_peak"], "consumers": 2}])
    api.write_text(f"{stamp}\n{deep}\n" + api.read_text())
    for web in folder.glob("web-*.log"):
        web.unlink()  # no database consequence either
    report, _ = analyze([str(folder)])
    assert "PM601" not in [f.rule_id for f in report.findings]


def test_no_cascade_without_queue_or_database_sources():
    """The recorded incidents without queue or database sources: PM601 says nothing."""
    for name in ("storm", "healthy-4", "hang-8", "scaleout"):
        report, _ = analyze([str(RECORDED / name)])
        assert "PM601" not in [f.rule_id for f in report.findings], name


@pytest.mark.slow
def test_corpus_snippets_stay_with_their_families(tmp_path):
    """The public bug-report text (../shared/corpus): no Redis, Kubernetes or metrics snippet is read as a broker or
    database event (the corpus holds none of those families)."""
    from .conftest import CORPUS

    if not CORPUS.exists():
        pytest.skip(f"no corpus at {CORPUS}")
    claimed = []
    for f in sorted(CORPUS.glob("*.txt")):
        parts = re.split(r"^=== SOURCE: (.+) ===$", f.read_text(encoding="utf-8"), flags=re.M)
        for i in range(1, len(parts), 2):
            path = tmp_path / "snippet.log"
            path.write_text(parts[i + 1], encoding="utf-8")
            sources = set(ingest([str(path)]).events.get_column("source").drop_nulls())
            if sources & {"queue", "database"}:
                claimed.append((f.name, parts[i]))
    assert not claimed


def _with_publisher(tmp_path: Path, blocked_at: list[float], unblocked_at: list[float], *, keep_queue_and_db: bool = True):
    """The recorded cascade with a pika publisher's log added (blocks `blocked_at` seconds after the outage start)."""
    folder = tmp_path / "cascade"
    shutil.copytree(RECORDED / "cascade", folder)
    if not keep_queue_and_db:
        for f in [*folder.glob("rabbitmq*"), *folder.glob("web-*.log")]:
            f.unlink()
    start = datetime.fromisoformat(_facts("cascade")["outage_start"]).timestamp()

    def stamp(offset: float) -> str:
        t = datetime.fromtimestamp(start + offset, tz=UTC)
        return t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"

    rows = [(stamp(o), "WARNING", PIKA_BLOCKED.format(reason="low on memory")) for o in blocked_at]
    rows += [(stamp(o), "INFO", PIKA_UNBLOCKED) for o in unblocked_at]
    (folder / "publisher-7f6b5d-z9w2c.log").write_text(_pika_log(*sorted(rows)), encoding="utf-8")
    return folder


@pytest.mark.slow
def test_publishers_blocked_after_the_outage_are_a_consequence_with_their_delay(tmp_path):
    folder = _with_publisher(tmp_path, [4.284], [11.776])
    report, _ = analyze([str(folder)])
    (f,) = [f for f in report.findings if f.rule_id == "PM601"]
    b = f.figures.publishers_blocked
    assert (b["events"], b["before"], b["reasons"]) == (1, 0, ["low on memory"])
    # the delay is told from the rule's own trouble start (the first Redis failure), not the recorder's
    shift = (datetime.fromisoformat(_facts("cascade")["outage_start"])
             - datetime.fromisoformat(f.figures.trouble_start)).total_seconds()
    assert abs(shift) < 1
    assert b["delay_s"] == pytest.approx(4.284 + shift, abs=0.002)
    assert b["unblocked_after_s"] == pytest.approx(7.492, abs=0.002)
    assert b["first_source"] == "publisher-7f6b5d-z9w2c.log:1"
    assert b["first_source"] in {f"{e.path}:{e.line}" for e in f.evidence}
    assert "RabbitMQ blocked publishers 1 times on 1 host" in f.title and "RabbitMQ blocked publishers" in report.summary


@pytest.mark.slow
def test_publishers_blocked_alone_fire_and_a_steady_rate_does_not(tmp_path):
    """Measured against the publisher's own rate: blocks only after the outage are a consequence; blocks as frequent
    before it are not."""
    alone = _with_publisher(tmp_path / "a", [3.0, 5.5], [9.0], keep_queue_and_db=False)
    report, _ = analyze([str(alone)])
    (f,) = [f for f in report.findings if f.rule_id == "PM601"]
    assert not f.figures.queues and not f.figures.db_pools and f.figures.publishers_blocked["events"] == 2
    steady = _with_publisher(tmp_path / "b", [-30.0, -25.0, -18.0, -12.0, 3.0], [9.0], keep_queue_and_db=False)
    report, _ = analyze([str(steady)])
    assert "PM601" not in [f.rule_id for f in report.findings]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cascade-blocked", "cascade-blocked-8"])
def test_recorded_blocked_publisher(name):
    """Real RabbitMQ 3.10 and pika 1.4.4 (3 and 6 web pods): the outage's backlog raised the memory alarm and the
    broker blocked the publisher; PM601 tells it with its delay, each figure from a line of the recording."""
    facts = _facts(name)
    report, result = analyze([str(RECORDED / name)])
    assert all(i.accounted() for i in result.inputs)
    (f,) = [f for f in report.findings if f.rule_id == "PM601"]
    b = f.figures.publishers_blocked
    blocked = [datetime.fromisoformat(t) for t in facts["blocked_at"]]
    assert (b["events"], b["before"], b["reasons"]) == (len(blocked), 0, ["low on memory"])
    # pika logs the frame as it arrives: the log's millisecond stamp is the connection's own
    assert abs(datetime.fromisoformat(b["first"]) - blocked[0]).total_seconds() < 0.01
    start = datetime.fromisoformat(facts["outage_start"])
    assert 0 < b["delay_s"] <= facts["outage_s"] + 1 and abs(
        b["delay_s"] - (blocked[0] - start).total_seconds()) < 0.2
    unblocked = datetime.fromisoformat(facts["unblocked_at"][0])
    assert b["unblocked_after_s"] == pytest.approx((unblocked - blocked[0]).total_seconds(), abs=0.01)
    path, _, line = b["first_source"].rpartition(":")
    assert "Connection.Blocked" in (RECORDED / name / path).read_text().splitlines()[int(line) - 1]
    assert b["first_source"] in {f"{e.path}:{e.line}" for e in f.evidence}
    assert "RabbitMQ blocked publishers" in report.summary


def test_pika_samples_are_the_recorded_lines():
    """The recognizer's pika samples are the recording's own lines (the file:line its comment cites)."""
    from parsers.queues import QueueRecognizer

    lines = (RECORDED / "cascade-blocked" / "publisher-7f6b5d-z9w2c.log").read_text().splitlines()
    assert list(QueueRecognizer.samples[-2:]) == lines[7:9]
