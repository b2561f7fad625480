"""redis-server recognizer: every corpus snippet, each framing (plain, syslog, Docker Desktop prefix,
compose, docker json, 2.x), field extraction, year-less timestamps, and a property test.

Fixtures in tests/data/redis_server/ are constructed from formats.md §3 wording; the corpus is real.
"""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers.base import ParseContext
from parsers.redis_server import RedisServerRecognizer
from postmortem.input.ingest import IngestOptions, ingest
from postmortem.input.log_text import frame_log_text, parse_log_text
from postmortem.schema import event_weight

from .conftest import DATA

CORPUS = DATA / "corpus"
FIXTURES = DATA / "redis_server"

# snippet -> kinds that must be among its redis_server events (INDEX.md signal)
EXPECTED: dict[str, set[str]] = {
    "redis/redis#4993": {"redis.server.start", "redis.server.ready"},
    "redis/redis#246": {"redis.server.warning"},
    "redis/redis#356": {"redis.server.warning"},
    "redis/redis-rb#809": {"redis.server.warning"},
    "redis/redis#5457": {"redis.server.warning", "redis.config"},
    "microsoftarchive/redis#175": {"redis.server.warning", "redis.server.start"},
    "docker/cli#2665": {"redis.server.start", "redis.server.warning"},
    "socketio/socket.io-redis-adapter#298": {"redis.server.warning"},
    "azavea/nyc-trees#1555": {"redis.server.start", "redis.server.ready", "redis.server.warning"},
    "redis/redis#11313": {"redis.server.warning"},
    "MaMpf-HD/mampf#443": {"redis.server.start", "redis.server.shutdown"},
    "WeblateOrg/docker#1691": {"redis.server.ready"},
}


def snippets(name: str) -> dict[str, str]:
    parts = re.split(r"(?m)^=== SOURCE: (.+) ===\n", (CORPUS / name).read_text(encoding="utf-8"))
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def parse(text: str, path: str = "redis.log"):
    return parse_log_text(text, ParseContext(path=path))


def server_events(text: str, path: str = "redis.log") -> pl.DataFrame:
    return parse(text, path).events.filter(pl.col("source") == "redis_server")


def attrs_at(events: pl.DataFrame, line: int) -> dict:
    return json.loads(events.filter(pl.col("line") == line).get_column("attrs")[0])


def test_expected_table_covers_the_corpus():
    assert set(EXPECTED) == set(snippets("redis-server.txt"))


@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_corpus_snippet_kinds(source):
    kinds = set(server_events(snippets("redis-server.txt")[source]).get_column("kind"))
    assert EXPECTED[source] <= kinds, kinds


@pytest.mark.slow
@pytest.mark.parametrize("name", ["other-clients.txt", "stackexchange-redis.txt", "redis-py.txt", "k8s-events.txt"])
def test_client_text_is_never_redis_server(name):
    for source, body in snippets(name).items():
        assert server_events(body).height == 0, source


def test_corpus_fields():
    s = snippets("redis-server.txt")
    ev = server_events(s["azavea/nyc-trees#1555"])
    loaded = ev.filter(pl.col("message").str.starts_with("DB loaded"))
    assert loaded.get_column("value")[0] == 56.168 and attrs_at(ev, loaded.get_column("line")[0])["loading_s"] == 56.168
    start = ev.filter(pl.col("kind") == "redis.server.start").row(0, named=True)
    assert json.loads(start["attrs"])["version"] == "2.8.4"
    ev = server_events(s["docker/cli#2665"])
    backlog = ev.filter(pl.col("message").str.contains("TCP backlog")).row(0, named=True)
    assert json.loads(backlog["attrs"]).items() >= {"tcp_backlog": 511.0, "somaxconn": 128.0, "role": "M"}.items()
    assert json.loads(ev.filter(pl.col("kind") == "redis.server.start").get_column("attrs")[0])["version"] == "6.0.5"
    ev = server_events(s["redis/redis#356"])
    assert ev.get_column("value")[0] == -16.0
    ev = server_events(s["WeblateOrg/docker#1691"])
    assert ev.get_column("entity").to_list() == ["redis:cache_1"]
    # Docker Desktop: the redis header's own (UTC) time wins over the local-time prefix
    ev = server_events(s["MaMpf-HD/mampf#443"])
    assert str(ev.get_column("ts")[0]) == "2023-04-05 09:47:26.929000+00:00"


@pytest.mark.parametrize("path", sorted(FIXTURES.iterdir()), ids=lambda p: p.name)
def test_framing_golden(path, golden):
    result = parse(path.read_text(encoding="utf-8"), path.name)
    assert result.lines == result.event_lines + result.unrecognized_lines + result.blank_lines
    lines = [f"# {path.name}: {result.label}, {result.lines} lines, {result.records} records"]
    for r in result.events.iter_rows(named=True):
        lines.append(f"{r['line']}\t{r['source']}\t{r['kind']}\t{r['level']}\t{r['ts']}\t{r['entity']}\t"
                     f"{r['message']}\t{r['value']}\t{r['attrs']}")
    golden(f"redis_server_{path.name.replace('.', '_')}.txt", "\n".join(lines) + "\n")


def test_verbose_lines_and_limits():
    ev = server_events((FIXTURES / "verbose_7x.log").read_text(encoding="utf-8"))
    churn = ev.filter(pl.col("kind").is_in(["redis.server.client_accepted", "redis.server.client_closed"]))
    per_kind = dict(churn.group_by("kind").agg(event_weight().sum()).iter_rows())
    assert per_kind == {"redis.server.client_accepted": 2.0, "redis.server.client_closed": 2.0}
    assert attrs_at(ev, 9)["client"] == "10.1.0.20:40000" and attrs_at(ev, 9)["marker"] == "."
    assert attrs_at(ev, 5)["maxclients"] == 4064.0 and attrs_at(ev, 3)["fds_required"] == 10032.0
    assert attrs_at(ev, 11).items() >= {"client": "10.1.2.3:51234", "error": "Connection reset by peer"}.items()
    assert attrs_at(ev, 12)["error"] == "accept: Too many open files"
    assert attrs_at(ev, 1)["version"] == "7.2.4"  # carried from the version line
    assert ev.filter(pl.col("kind") == "redis.server.shutdown").height == 2


CHURN_LOG = (
    "1:M 14 Mar 2026 02:12:40.040 - Accepted 10.1.201.171:54030\n"
    "1:M 14 Mar 2026 02:12:40.041 - Client closed connection id=7 addr=10.1.2.3:5555 laddr=10.0.0.1:6379 fd=9\n"
    "1:M 14 Mar 2026 02:12:40.300 - Closing idle client\n"
    "1:M 14 Mar 2026 02:12:41.000 # WARNING overcommit_memory is set to 0!\n"
)


def churn_records(**by_line: tuple[int, int | None]) -> pl.DataFrame:
    """CHURN_LOG framed without summaries, then given the framer's summary columns by hand:
    `L<line>=(n_lines, last_line)`; the other records keep n_lines 1 and no last_line."""
    records = frame_log_text(CHURN_LOG, ParseContext(path="redis.log"), summarize=False).records
    n = {int(k[1:]): v[0] for k, v in by_line.items()}
    last = {int(k[1:]): v[1] for k, v in by_line.items()}
    return records.drop("last_line", strict=False).with_columns(
        n_lines=pl.col("line").replace_strict(n, default=pl.col("n_lines"), return_dtype=pl.UInt32),
        last_line=pl.col("line").replace_strict(last, default=None, return_dtype=pl.UInt32),
    ).with_row_index("rec")


def recognized(records: pl.DataFrame) -> dict[int, dict]:
    hits = RedisServerRecognizer().recognize(records).join(records.select("rec", "line"), on="rec")
    return {r["line"]: {**r, "attrs": json.loads(r["attrs"])} for r in hits.iter_rows(named=True)}


def test_summarized_churn_records_carry_their_connections():
    rows = recognized(churn_records(L1=(57, 1290), L2=(3, 9), L3=(4, 12)))
    acc, closed, idle, warn = rows[1], rows[2], rows[3], rows[4]
    assert acc["kind"] == "redis.server.client_accepted" and acc["value"] == 57.0
    assert acc["message"] == "57 × Accepted 10.1.201.171:54030 … (lines 1–1290)"
    assert acc["attrs"]["summarized"] == 57 and acc["attrs"]["last_line"] == 1290
    assert acc["attrs"]["client"] == "10.1.201.171:54030" and acc["attrs"]["event"] == "accepted"
    assert closed["kind"] == "redis.server.client_closed" and closed["value"] == 3.0
    assert closed["message"].startswith("3 × Client closed connection id=7") and closed["attrs"]["last_line"] == 9
    assert closed["attrs"]["client"] == "10.1.2.3:5555"
    # a churn kind classified by the rules (not the fast prefixes) is weighted the same way
    assert idle["kind"] == "redis.server.client_closed" and idle["attrs"]["event"] == "idle"
    assert idle["value"] == 4.0 and idle["attrs"]["summarized"] == 4 and idle["message"].endswith("(lines 3–12)")
    assert warn["kind"] == "redis.server.warning" and warn["value"] is None and "summarized" not in warn["attrs"]


def test_single_churn_lines_weigh_one_with_or_without_the_summary_columns():
    plain = churn_records()
    for records in (plain, plain.drop("last_line"), plain.drop("last_line", "n_lines")):
        rows = recognized(records)
        for line in (1, 2, 3):
            assert rows[line]["value"] == 1.0 and "summarized" not in rows[line]["attrs"]
            assert "×" not in rows[line]["message"]
    assert rows[1]["message"] == "Accepted 10.1.201.171:54030"


def test_churn_line_with_continuation_lines_is_one_connection():
    rows = recognized(churn_records(L1=(3, None)).with_columns(
        text=pl.when(pl.col("line") == 1).then(pl.col("text") + "\n  stray\n  lines").otherwise("text")))
    assert rows[1]["value"] == 1.0 and rows[1]["message"] == "Accepted 10.1.201.171:54030"
    # a summary without `last_line` (its text is one line) still counts its connections
    rows = recognized(churn_records(L1=(5, None)))
    assert rows[1]["value"] == 5.0 and rows[1]["message"] == "5 × Accepted 10.1.201.171:54030 …"


def test_framed_summary_keeps_every_connection_accounted():
    text = "".join(f"1:M 14 Mar 2026 02:12:40.{i:03d} - Accepted 10.0.0.{i % 7}:{40000 + i}\n" for i in range(300))
    result = parse(text)
    assert result.events.select(event_weight().sum()).item() == 300.0
    assert result.event_lines == result.lines == 300


def test_generic_wording_needs_a_redis_header():
    text = "Accepted 10.0.0.1:5000\nClient closed connection\nReady to accept connections\n"
    kinds = server_events(text).get_column("kind").to_list()
    assert kinds == ["redis.server.ready"]


def test_yearless_timestamps_take_the_year_and_the_report_says_so(tmp_path):
    (tmp_path / "redis.log").write_text((FIXTURES / "old_2x.log").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "app.log").write_text("2019-10-08 21:13:50,000 INFO app - start\n", encoding="utf-8")
    result = ingest([str(tmp_path)])
    years = result.events.filter(pl.col("source") == "redis_server").get_column("ts").dt.year().unique().to_list()
    assert years == [2019]
    assert any("year-less" in a and "2019" in a for a in result.assumptions), result.assumptions
    forced = ingest([str(tmp_path / "redis.log")], IngestOptions(year=2021))
    assert forced.events.get_column("ts").dt.year().unique().to_list() == [2021]
    assert any("--year" in a for a in forced.assumptions)


def test_samples_are_recognized():
    for sample in RedisServerRecognizer.samples:
        assert server_events(sample).height >= 1, sample


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.text(max_size=100),
    st.sampled_from([
        "1:M 15 Jan 2024 10:02:11.532 # maxclients has been reduced to 4064 to compensate for low ulimit.",
        "[12] 15 Jan 10:02:11.532 - Accepted 1.2.3.4:5", "1:C 15 Jan 2024 10:02:11.532 * Ready to accept connections",
        "                _._", "Sep  3 10:19:40 h redis-server: 6082:M 03 Sep 2022 10:19:40.949 # WARNING x",
        "12:signal-handler (1662200702) Received SIGTERM scheduling shutdown...", "timeout 0", "",
    ]),
), max_size=25))
@pytest.mark.slow
def test_arbitrary_text_never_crashes_and_lines_add_up(lines):
    result = parse("\n".join(lines))
    assert result.lines == result.event_lines + result.unrecognized_lines + result.blank_lines
