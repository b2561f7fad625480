"""StackExchange.Redis recognizer: every real snippet, every .NET envelope, secrets, and no false claims."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers.envelopes import frame
from parsers.stackexchange_redis import StackExchangeRedis
from postmortem.input.ingest import ingest
from postmortem.redaction import redact_events

from .conftest import DATA

CORPUS = DATA / "corpus"
FIXTURES = DATA / "stackexchange"
SOURCE = "stackexchange_redis"
SECRETS = ("Sup3rSecret!", "hunter2", "AppInsightsLeak1")


def _snippets(name: str) -> list[tuple[str, str]]:
    parts = re.split(r"(?m)^=== SOURCE: (.+) ===$\n?", (CORPUS / name).read_text(encoding="utf-8"))
    return [(parts[i], parts[i + 1]) for i in range(1, len(parts), 2)]


def _signals() -> dict[int, list[str]]:
    """Row number -> signal tokens, from the stackexchange-redis.txt table of INDEX.md."""
    index = (CORPUS / "INDEX.md").read_text(encoding="utf-8")
    section = index.split("## stackexchange-redis.txt", 1)[1].split("\n## ", 1)[0]
    out = {}
    for row in section.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            out[int(cells[0])] = [re.match(r"[\w-]+", tok.strip()).group(0) for tok in cells[2].split(",")]
    return out


def _attrs(events: pl.DataFrame) -> list[dict]:
    return [json.loads(a) for a in events.get_column("attrs").to_list()]


def _has_kind(kind: str):
    return lambda ev: kind in ev.get_column("kind").to_list()


def _any_attr(pred):
    return lambda ev: any(pred(a) for a in _attrs(ev))


# What each INDEX.md signal means as a check on the snippet's stackexchange_redis events.
SIGNAL_CHECKS = {
    "timeout": _has_kind("redis.timeout"),
    "backlog-timeout": _has_kind("redis.backlog_timeout"),
    "no-connection": _has_kind("redis.no_connection"),
    "loading": _has_kind("redis.loading"),
    "config": _has_kind("redis.config"),
    "config-string": _has_kind("redis.config"),
    "connect-failure": lambda ev: _has_kind("redis.connect_failed")(ev)
    or _any_attr(lambda a: a.get("inner_kind") == "redis.connect_failed")(ev),
    "socket-failure": _any_attr(lambda a: a.get("failure_type") == "SocketFailure"),
    "socket-closed": _any_attr(lambda a: a.get("failure_type") == "SocketClosed"),
    "connect-log": lambda ev: _has_kind("redis.connect_log")(ev) or _any_attr(lambda a: a.get("connect_log"))(ev),
    "thread-theft": _any_attr(lambda a: a.get("thread_theft") is True),
    "threadpool-starvation": _any_attr(lambda a: a.get("worker_busy", 0) > 1000),
    "client-cpu": _any_attr(lambda a: a.get("Local-CPU") == "100%"),
    "large-payload": _any_attr(lambda a: a.get("in", 0) > 10000),
    "storm": _any_attr(lambda a: a.get("qs", 0) > 10000),
}
SE_SNIPPETS = _snippets("stackexchange-redis.txt")
SIGNALS = _signals()


def _ingest_text(tmp_path: Path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = ingest([str(path)])
    (info,) = result.inputs
    assert info.accounted(), info
    return result.events, info


def test_index_covers_every_snippet():
    assert len(SE_SNIPPETS) == len(SIGNALS) == 28


@pytest.mark.parametrize("n", range(1, len(SE_SNIPPETS) + 1))
def test_corpus_snippet_yields_its_signal(tmp_path, n):
    source, body = SE_SNIPPETS[n - 1]
    events, _ = _ingest_text(tmp_path, f"snippet{n}.log", body)
    ours = events.filter(pl.col("source") == SOURCE)
    assert ours.height >= 1, source
    checked = [s for s in SIGNALS[n] if s in SIGNAL_CHECKS]
    assert checked, f"#{n} {source}: no check for signals {SIGNALS[n]}"
    for signal in checked:
        assert SIGNAL_CHECKS[signal](ours), f"#{n} {source}: signal {signal} not found in {ours.rows()}"
    for a in _attrs(ours):
        assert a["client"] == SOURCE


@pytest.mark.parametrize("source,body", _snippets("other-clients.txt") + _snippets("redis-py.txt"))
def test_other_clients_are_not_attributed(tmp_path, source, body):
    events, _ = _ingest_text(tmp_path, "other.log", body)
    assert events.filter(pl.col("source") == SOURCE).height == 0, source


@pytest.mark.parametrize("n", range(1, len(SE_SNIPPETS) + 1))
def test_truncated_last_line_never_crashes(tmp_path, n):
    body = SE_SNIPPETS[n - 1][1].rstrip("\n")
    for cut in (len(body) - 1, len(body) // 2, len(body) - len(body.rsplit("\n", 1)[-1]) // 2):
        _ingest_text(tmp_path, f"cut{n}.log", body[: max(cut, 1)])


def test_timeout_fields_by_name_across_versions(tmp_path):
    async_210 = SE_SNIPPETS[5][1]  # 2.7.33 async layout, glued PerfCounterHelperkeyHashSlot
    events, _ = _ingest_text(tmp_path, "a.log", async_210)
    a = _attrs(events.filter(pl.col("kind") == "redis.timeout"))[0]
    assert (a["elapsed_ms"], a["timeout_ms"], a["qs"], a["bw"], a["conn-sec"]) == (1178, 1000, 81, "SpinningDown", "23737.05")
    assert (a["mc_attempts"], a["mc_completed"], a["mc_closed"], a["aoc"]) == (1, 1, 0, 0)
    assert a["next"] == "GET" and "34169274" not in json.dumps(a)  # the key is dropped
    assert a["lib_version"] == "2.7.33.41805"
    row = events.filter(pl.col("kind") == "redis.timeout").row(0, named=True)
    assert row["host"] == "portunus-internal-cc77fc556-dkjg4" and row["entity"] == "redis:10.53.0.207:6379"
    one_zero, _ = _ingest_text(tmp_path, "b.log", SE_SNIPPETS[25][1])  # 1.0 "qu=0, qs=2" layout
    b = _attrs(one_zero.filter(pl.col("kind") == "redis.timeout"))[0]
    assert (b["qu"], b["qs"], b["qc"], b["wr"], b["in_pair"], b["command"]) == (0, 2, 0, "1/1", "0/0", "PSETEX")
    one_x, _ = _ingest_text(tmp_path, "c.log", SE_SNIPPETS[0][1])  # 1.x mgr/err/queue
    c = _attrs(one_x)[0]
    assert (c["mgr"], c["err"], c["queue"], c["worker_busy"], c["worker_min"], c["iocp_max"]) == (
        "CheckForHeartbeat", "never", 36147, 51, 8, 1000)


def test_envelopes_recognized(tmp_path):
    expected = {
        "serilog.log": {"redis.config", "redis.timeout", "redis.backlog_timeout", "redis.connection_restored"},
        "serilog_compact.json": {"redis.timeout", "redis.no_connection", "redis.auth_failed"},
        "nlog.log": {"redis.connect_failed", "redis.connection_lost"},
        "log4net.log": {"redis.timeout", "redis.loading"},
        "mel_console.log": {"redis.connection_lost", "redis.reconnect_attempt", "redis.connect_failed"},
        "cri.log": {"redis.timeout"},
        "config.cs.txt": {"redis.config"},
        "appinsights_traces.csv": {"redis.timeout", "redis.config"},
        "appinsights_exceptions.csv": {"redis.no_connection"},
    }
    for name, kinds in expected.items():
        result = ingest([str(FIXTURES / name)])
        (info,) = result.inputs
        assert info.accounted() and info.unrecognized_lines == 0 or name == "config.cs.txt", info
        ours = result.events.filter(pl.col("source") == SOURCE)
        assert set(ours.get_column("kind")) == kinds, name
        if name not in ("config.cs.txt", "mel_console.log"):  # these layouts carry no timestamps
            assert ours.get_column("ts").null_count() == 0, name
    assert ingest([str(FIXTURES / "log4net.log")]).inputs[0].parser == "log:iso_level"


def test_crlf_and_utf16_give_the_same_events(tmp_path):
    text = (FIXTURES / "serilog.log").read_text(encoding="utf-8")
    (tmp_path / "crlf.log").write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    (tmp_path / "u16.log").write_bytes(b"\xff\xfe" + text.replace("\n", "\r\n").encode("utf-16-le"))
    (tmp_path / "plain.log").write_text(text, encoding="utf-8")
    events = ingest([str(tmp_path)]).events
    per_file = events.group_by("path").agg(pl.struct("line", "kind", "attrs", "message").sort_by("line"))
    assert per_file.height == 3 and per_file.get_column("line").n_unique() == 1


def test_secrets_kept_as_logged_and_redacted_in_one_pass():
    events = ingest([str(FIXTURES)]).events
    assert any(secret in events.write_csv() for secret in SECRETS), "events keep the text as logged"
    dump = redact_events(events).write_csv()
    for secret in SECRETS:
        assert secret not in dump
    config = events.filter(pl.col("kind") == "redis.config")
    assert any(json.loads(a).get("has_password") for a in config.get_column("attrs"))


def test_config_options_parsed():
    events = ingest([str(FIXTURES / "serilog.log"), str(FIXTURES / "config.cs.txt")]).events
    cfg = {Path(p).name: json.loads(a) for p, a in events.filter(pl.col("kind") == "redis.config").select("path", "attrs").rows()}
    s = cfg["serilog.log"]
    assert (s["abortConnect"], s["connectTimeout"], s["syncTimeout"], s["connectRetry"], s["ssl"]) == (False, 5000, 2000, 3, True)
    assert s["endpoints"] == "cache1.redis.cache.windows.net:6380"
    c = cfg["config.cs.txt"]
    assert (c["abortConnect"], c["connectTimeout"], c["reconnect_retry_policy"], c["backlog_policy"]) == (
        False, 15000, "LinearRetry(1000)", "FailFast")


def _golden_text(paths: list[str]) -> str:
    events = ingest(paths).events.filter(pl.col("source") == SOURCE)
    rows = events.select(
        "line", pl.col("ts").cast(pl.String), "kind", pl.col("level").cast(pl.String), "host", "entity", "message", "attrs"
    )
    return "".join(
        json.dumps({**r, "attrs": json.loads(r["attrs"])}, sort_keys=True, ensure_ascii=False) + "\n"
        for r in rows.iter_rows(named=True)
    )


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if p.suffix != ".md"))
def test_golden_envelopes(golden, name):
    golden(f"se_{name.replace('.', '_')}.ndjson", _golden_text([str(FIXTURES / name)]))


# One golden per message layout, from the real corpus: 1.0, 1.x, 2.0, 2.1 async, 2.7, connect log.
LAYOUTS = {"v1_0": 26, "v1_x": 1, "v2_0": 2, "v2_1_async": 21, "v2_7": 6, "connect_log": 16, "failure": 11}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_golden_layouts(golden, tmp_path, layout):
    path = tmp_path / f"{layout}.log"
    path.write_text(SE_SNIPPETS[LAYOUTS[layout] - 1][1], encoding="utf-8")
    golden(f"se_layout_{layout}.ndjson", _golden_text([str(path)]))


def _records(text: str) -> pl.DataFrame:
    records, _, _, _ = frame(text)
    return records.with_row_index("rec").with_columns(path=pl.lit("x.log"))


FRAGMENTS = (
    "Timeout performing GET (5000ms)", "Timeout awaiting response (", "1178ms elapsed, timeout is 1000ms)", ", qs: 12",
    ", inst=3", ", mc: 1/2/3", ", WORKER: (Busy=1,Free=2,Min=3,Max=4)", "No connection is active/available",
    "SocketFailure on h:6379/Interactive", "config.AbortOnConnectFail = true;", "redis:6379,password=x,abortConnect=",
    "04:56:56.8383: ", "h:6379: Connecting...", "StackExchange.Redis.RedisTimeoutException: ", "\n", "\r\n",
    "\n   at X.Y()", ", ", "(", ")", "\"", "é", "\u2028", "{\"@t\":\"2024-01-15T10:02:11Z\",\"@m\":\"",
    "StackExchange.Redis.RedisServerException: ", "OOM command not allowed when used memory > 'maxmemory'.",
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=12), max_size=40).map("".join))
def test_any_text_never_crashes_and_is_accounted(tmp_path, text):
    claimed = StackExchangeRedis().recognize(_records(text))
    assert claimed.get_column("rec").is_unique().all()
    assert set(claimed.columns) >= {"rec", "kind"}
    for a in claimed.get_column("attrs").to_list() if "attrs" in claimed.columns else []:
        assert json.loads(a)["client"] == SOURCE
    path = tmp_path / "any.log"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    for info in ingest([str(path)]).inputs:
        assert info.accounted(), info


# --- OOM at maxmemory: the server's reply, which SE.Redis raises verbatim as a RedisServerException ---------
OOM_REPLY = "OOM command not allowed when used memory > 'maxmemory'."
OOM_EXC = "StackExchange.Redis.RedisServerException: " + OOM_REPLY
SYNC_FRAMES = (
    "   at StackExchange.Redis.ConnectionMultiplexer.ExecuteSyncImpl[T](Message message, ResultProcessor`1 processor, "
    "ServerEndPoint server, T defaultValue) in /_/src/StackExchange.Redis/ConnectionMultiplexer.cs:line 2109\n"
    "   at StackExchange.Redis.RedisDatabase.StringSet(RedisKey key, RedisValue value, Nullable`1 expiry, Boolean keepTtl, "
    "When when, CommandFlags flags) in /_/src/StackExchange.Redis/RedisDatabase.cs:line 3163\n"
)
APP_FRAME = "   at Shop.Cache.PageCache.SetAsync(String key) in /src/Shop/Cache/PageCache.cs:line 73\n"
# Each layout as the logger prints an exception: Serilog text ({Message:lj}{NewLine}{Exception}), ASP.NET Core's
# simple console formatter (message and exception indented by 6), Serilog compact JSON (`@x`), NLog's
# `${longdate}|${level}|${logger}|${message} ${exception:format=tostring}`, .Result's AggregateException, an app
# exception wrapping it (` ---> ` inner), and the public tester's bare console (no timestamp).
OOM_LAYOUTS = {
    "serilog_async": f"2026-06-03 10:14:20.557 +00:00 [WRN] Page cache write failed for product:48213\n{OOM_EXC}\n{APP_FRAME}",
    "serilog_sync": f"2026-06-03 10:14:20.557 +00:00 [ERR] Write failed\n{OOM_EXC}\n{SYNC_FRAMES}{APP_FRAME}",
    "mel_console": "fail: Shop.Cache.PageCache[0]\n      Page cache write failed for product:48213\n      " + OOM_EXC + "\n"
                   + "".join("      " + f + "\n" for f in SYNC_FRAMES.splitlines()),
    "clef": json.dumps({"@t": "2026-06-03T10:14:20.5570000Z", "@mt": "Page cache write failed for {Key}", "@l": "Warning",
                        "@x": OOM_EXC + "\r\n" + APP_FRAME.rstrip("\n"), "Key": "product:48213",
                        "SourceContext": "Shop.Cache.PageCache"}) + "\n",
    "nlog": f"2026-06-03 10:14:20.5570|ERROR|Shop.Cache.PageCache|Page cache write failed {OOM_EXC}\n{APP_FRAME}",
    "aggregate": "2026-06-03 10:14:20.557 +00:00 [ERR] Write failed\nSystem.AggregateException: One or more errors "
                 f"occurred. ({OOM_REPLY})\n ---> {OOM_EXC}\n   --- End of inner exception stack trace ---\n"
                 "   at System.Threading.Tasks.Task`1.GetResultCore(Boolean waitCompletionNotification)\n",
    "wrapped": f"2026-06-03 10:14:20.557 +00:00 [ERR] Session touch failed\nShop.Sessions.SessionStoreException: Could not "
               f"touch session 4f2a ---> {OOM_EXC}\n{SYNC_FRAMES}   --- End of inner exception stack trace ---\n{APP_FRAME}",
    "tester_console": f"{OOM_EXC}\n   at Program.<Main>$(String[] args) in /src/Program.cs:line 78\n",
}


@pytest.mark.parametrize("layout", sorted(OOM_LAYOUTS))
def test_an_oom_reply_is_a_refused_write_in_every_layout(tmp_path, layout):
    events, info = _ingest_text(tmp_path, f"{layout}.log", OOM_LAYOUTS[layout])
    assert info.unrecognized_lines == 0
    ours = events.filter(pl.col("source") == SOURCE)
    assert ours.get_column("kind").to_list() == ["redis.oom"], ours.rows()
    (row,) = ours.rows(named=True)
    # no endpoint in the reply: a key such as product:48213 is not one
    assert row["entity"] is None and OOM_REPLY in row["message"]
    a = json.loads(row["attrs"])
    assert (a["exception"], a["error"]) == ("StackExchange.Redis.RedisServerException", OOM_REPLY)


OTHER_OOM = {
    "dotnet_heap": "2026-06-03 10:14:20.557 +00:00 [FTL] Host terminated unexpectedly\nSystem.OutOfMemoryException: "
                   "Exception of type 'System.OutOfMemoryException' was thrown.\n   at StackExchange.Redis.PhysicalConnection."
                   "ReadFromPipe()\n   at Shop.Program.Main(String[] args) in /src/Program.cs:line 12\n",
    "jvm_heap": "2026-06-03 10:14:20,557 ERROR [main] c.s.Cache - write failed\njava.lang.OutOfMemoryError: Java heap space\n"
                "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)\n",
    "jedis_reply": "2026-06-03 10:14:20,557 ERROR [main] c.s.Cache - write failed\nredis.clients.jedis.exceptions."
                   f"JedisDataException: {OOM_REPLY}\n\tat redis.clients.jedis.Protocol.processError(Protocol.java:135)\n",
    "lettuce_reply": "2026-06-03 10:14:20,557 ERROR [main] c.s.Cache - write failed\nio.lettuce.core."
                     f"RedisCommandExecutionException: {OOM_REPLY}\n\tat io.lettuce.core.internal.ExceptionFactory."
                     "createExecutionException(ExceptionFactory.java:147)\n",
    "freeredis_reply": f"2026-06-03 10:14:20.557 +00:00 [ERR] write failed\nFreeRedis.RedisServerException: {OOM_REPLY}\n",
    "quoted_without_library": f"2026-06-03 10:14:20.557 +00:00 [WRN] Page cache write failed: {OOM_REPLY}\n",
}


@pytest.mark.parametrize("case", sorted(OTHER_OOM))
def test_other_out_of_memory_texts_are_not_this_librarys(tmp_path, case):
    """The runtime's own OutOfMemory (.NET, JVM) is not Redis refusing a write, and the reply quoted by another
    client, or by an app line with nothing of this library in it, is not StackExchange.Redis's."""
    events, _ = _ingest_text(tmp_path, f"{case}.log", OTHER_OOM[case])
    assert events.filter(pl.col("source") == SOURCE).height == 0, events.rows()
    assert events.filter(pl.col("kind") == "redis.oom").height == 0, events.rows()


_WORDS = st.text(alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 :/_-."),
                 min_size=1, max_size=40).map(str.strip).filter(bool)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(set(OOM_LAYOUTS) - {"tester_console"})), st.lists(_WORDS, min_size=1, max_size=6))
def test_oom_records_are_one_event_each_whatever_the_app_says(tmp_path, layout, messages):
    """Any number of records of one layout, each with its own app message: one redis.oom per record, cited at
    the record's first line. (The bare tester console has no header: its records cannot be told apart.)"""
    one = OOM_LAYOUTS[layout]
    texts = []
    for m in messages:
        if layout == "clef":
            texts.append(one.replace("Page cache write failed for {Key}", m))
        else:
            texts.append(re.sub(r"(Page cache write failed for product:48213|Write failed|Session touch failed)",
                                m, one, count=1))  # _WORDS has no backslash: a literal replacement
    text = "".join(texts)
    path = tmp_path / "many.log"
    path.write_text(text, encoding="utf-8")
    result = ingest([str(path)])
    ours = result.events.filter(pl.col("source") == SOURCE)
    assert ours.get_column("kind").to_list() == ["redis.oom"] * len(messages)
    lines = text.splitlines()
    for line in ours.get_column("line").to_list():
        record = "\n".join(lines[line - 1:line + 3])
        assert OOM_REPLY in record or (layout == "clef" and "OOM command" in lines[line - 1])
