"""Envelope framing: each layout frames records with the right time, level and text."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from parsers.envelopes import (
    HEADER_MATCH,
    HEADER_VARIANTS,
    OUTER_PREFIXES,
    frame,
    frame_counted,
    header_columns,
    header_groups,
    outer_groups,
    split_lines,
    split_lines_plain,
)

CASES = {
    "python": ("2024-01-15 10:02:11,532 ERROR app.cache - boom\nTraceback (most recent call last):\n"
               "  File \"x.py\", line 1\nredis.exceptions.ConnectionError: Error 111\n", "iso_level", 1, "error"),
    "python_named": ("2024-01-15 10:02:11,532 - app.cache - ERROR - boom\n", "python_named", 1, "error"),
    "serilog": ("2024-01-15 10:02:11.532 +00:00 [ERR] boom\n   at X.Y()\n", "serilog", 1, "error"),
    "nlog": ("2024-01-15 10:02:11.5320|WARN|App.Cache|boom\n", "nlog", 1, "warning"),
    "celery": ("[2024-01-15 10:02:11,532: WARNING/MainProcess] boom\n", "celery", 1, "warning"),
    "gunicorn": ("[2024-01-15 10:02:11 +0000] [7] [ERROR] boom\n", "gunicorn", 1, "error"),
    "redis": ("1:M 15 Jan 2024 10:02:11.532 # boom\n", "redis_server", 1, "warning"),
    "redis_old": ("[123] 15 Jan 10:02:11.532 * boom\n", "redis_server", 1, "info"),
    "klog": ("E0115 10:02:11.532000    1234 event.go:12] boom\n", "klog", 1, "error"),
    "mel": ("fail: App.Cache[0]\n      boom\n      at X\n", "mel_console", 1, "error"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layouts(name):
    text, variant, n_records, level = CASES[name]
    records, plan, _, _ = frame(text)
    assert variant in plan.variants, plan
    assert records.height == n_records
    assert records.get_column("level")[0] == level
    assert "boom" in records.get_column("text")[0]


def test_timestamp_in_utc_and_traceback_joined():
    records, _, _, _ = frame(CASES["python"][0])
    assert str(records.get_column("ts")[0]) == "2024-01-15 10:02:11.532000+00:00"
    assert "redis.exceptions.ConnectionError" in records.get_column("text")[0]
    assert records.get_column("n_lines")[0] == 4


def test_cri_and_compose_prefixes():
    cri = ("2026-03-14T09:31:02.114Z stdout F 2026-03-14 09:31:02,110 ERROR app - boom\n"
           "2026-03-14T09:31:02.115Z stdout F   at frame\n")
    records, plan, _, _ = frame(cri)
    assert plan.outer == "cri" and records.height == 1
    compose = "api_1  | 2024-01-15 10:02:11,532 ERROR x - boom\nweb_1  | 2024-01-15 10:02:12,000 INFO y - ok\n"
    records, plan, _, _ = frame(compose)
    assert plan.outer == "compose" and records.get_column("host").to_list() == ["api_1", "web_1"]


def test_json_lines_serilog_and_docker():
    serilog = ('{"@t":"2024-01-15T10:02:11.5Z","@m":"Redis down","@x":"X: y\\r\\n   at Z","@l":"Error","pod":"api-1"}\n'
               '{"@t":"2024-01-15T10:02:12Z","@m":"fine"}\n')
    records, plan, _, _ = frame(serilog)
    assert plan.outer == "json"
    assert records.get_column("level").to_list() == ["error", "info"]
    assert records.get_column("host")[0] == "api-1" and "at Z" in records.get_column("text")[0]
    docker = ('{"log":"2024-01-15 10:02:11,532 ERROR app - boom\\n","stream":"stderr","time":"2024-01-15T10:02:11.53Z"}\n'
              '{"log":"  at frame\\n","stream":"stderr","time":"2024-01-15T10:02:11.54Z"}\n')
    records, plan, _, _ = frame(docker)
    assert plan.outer == "docker_json" and records.height == 1 and "at frame" in records.get_column("text")[0]


def test_bare_lines_without_envelope_are_framed_one_per_line():
    records, plan, _, _ = frame("first problem\nsecond problem\n  indented continuation\n")
    assert plan.variants == () and records.height == 2


_LINE_TEXT = st.text(alphabet=st.sampled_from(list("ab \t\r\n\"#,\x1f\x1e\ufeffé€")), max_size=60)


@settings(max_examples=300, deadline=None)
@given(_LINE_TEXT)
def test_fast_line_split_equals_the_plain_split(text):
    """The CSV-reader line split (the hot path) gives exactly the rows of `str.split` on any text."""
    assert_frame_equal(split_lines(text), split_lines_plain(text))


_HEADER_BITS = st.sampled_from([
    "2024-01-15 10:02:11,532", "2024-01-15T10:02:11.5320 +00:00", "[2024-01-15 10:02:11]", "1:M 15 Jan 2024 10:02:11.532",
    "[123] 15 Jan 10:02:11.532", "E0115 10:02:11.532000", "fail: App.Cache[0]", "INFO", "ERROR:", "[INF]", "[ERR]",
    "WARNING", "|", " - ", ": ", " ", "  ", "[main]", "*", "#", "-", "x", "app.cache", "/MainProcess]", "7", "INFOx",
])


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(st.lists(_HEADER_BITS, min_size=1, max_size=8).map("".join))
def test_match_only_header_regexes_match_the_same_lines(line):
    """The cheap `str.contains` forms of the header regexes accept exactly the lines the full ones do."""
    s = pl.Series([line])
    for name, rx in HEADER_VARIANTS:
        assert s.str.contains(rx)[0] == s.str.contains(HEADER_MATCH[name])[0], (name, line)


_HEADER_LINE_BITS = _HEADER_BITS | st.sampled_from([
    "6082:signal-handler (1662200702)", "[2024-01-15 10:02:11 +0000] [7] [ERROR]", "DEBUG:root:", "trce: X[1]",
    "[2024-01-15 10:02:11,532: WARNING/MainProcess]", "2024-01-15 10:02:11.5320|WARN|App.Cache|", "\r", "é", "٣",
    "\t", "]", "INFO] ", " :|- ", "-:", "W0115 10:02:11.1 1 a.go:1]", "2024-01-15 10:02:11 - app - ERROR - ",
]) | st.text(max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_HEADER_LINE_BITS, min_size=1, max_size=8).map("".join), min_size=1, max_size=6))
def test_header_fields_sliced_after_the_header_equal_the_whole_capture(lines):
    """Lines without a line feed: each variant's fields, its message sliced off after the header, are what
    the whole regex captures (iso_level's optional separator tail included)."""
    df = pl.DataFrame({"body": [ln.replace("\n", " ") for ln in lines] + [None]}, schema={"body": pl.String})
    for name, rx in HEADER_VARIANTS:
        fast = header_groups(pl.col("body"), name, one_line=True)
        g = pl.col("body").str.extract_groups(rx)
        plain = df.select(**{n: g.struct.field(n) for n in fast})
        assert df.select(**fast).equals(plain), (name, lines)


_VARIANT_NAMES = [name for name, _ in HEADER_VARIANTS]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_HEADER_LINE_BITS, min_size=1, max_size=8).map("".join), min_size=1, max_size=8),
       st.lists(st.sampled_from(_VARIANT_NAMES), min_size=1, max_size=3, unique=True))
@example(["2024-01-15 10:02:11,532 [thé٣] ERROR app - x", "2024-01-15 10:02:11,532 - app.é - ERROR - y", "  at z"],
         ["python_named", "iso_level"])  # the message sliced after a header holding non-ASCII (chars, not bytes)
def test_header_columns_read_each_line_as_the_whole_regexes_of_mixed_layouts(lines, variants):
    """Lines of mixed header layouts read by one to three variants at once (the capture made once per
    variant, the message sliced off after it): every line's header test, fields and envelope are what each
    variant's whole regex captures, the first variant having a field giving it. A capture or slice reused
    for the wrong variant, or a message cut at the wrong place, changes some line's fields."""
    bodies = [ln.replace("\n", " ") for ln in lines] + [None]
    df = pl.DataFrame({"body": bodies}, schema={"body": pl.String})
    got = header_columns(df, tuple(variants))
    whole = {v: df.select(g=pl.col("body").str.extract_groups(dict(HEADER_VARIANTS)[v])).get_column("g").to_list()
             for v in variants}
    for i in range(df.height):
        caps = {v: (whole[v][i] or {}) for v in variants}
        is_header = any(caps[v].get("rest") is not None or caps[v].get("ts" if "ts" in caps[v] else "level") is not None
                        for v in variants)
        row = got.row(i, named=True)
        assert row["header"] == is_header, (bodies[i], variants)
        for name in ("ts", "level", "logger", "host", "rest", "thread"):
            want = next((caps[v][name] for v in variants if name in caps[v] and caps[v][name] is not None), None)
            assert row["h_" + name] == want, (name, bodies[i], variants)
        envelope = variants[0] if is_header else None
        for v in variants[1:]:
            envelope = v if caps[v].get("rest") is not None else envelope
        assert row["envelope"] == envelope, (bodies[i], variants)


_COMPOSE_BITS = st.sampled_from([
    "api", "api-7d9f_x.2", "A", "9", "-", ".", "_", "é", "ß", "٣", " ", "  ", "\t", "\u00a0", "\u2003", "|", "| ", " | ",
    "||", "x|y", "\r", "\x00", "msg", ":", "\u200b",
])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(_COMPOSE_BITS, max_size=8).map("".join), min_size=1, max_size=6))
def test_compose_prefix_split_equals_its_regex(lines):
    """The `compose` prefix found by a split at the first `|` (the hot path on a dense export, issue #20)
    gives the rest and host the prefix's regex captures, on any line."""
    rx = dict(OUTER_PREFIXES)["compose"]
    df = pl.DataFrame({"raw": lines}, schema={"raw": pl.String})
    rest, pts, host = outer_groups("compose", rx)
    g = pl.col("raw").str.extract_groups(rx)
    got = df.select(rest.alias("rest"), host.alias("host"), pts.alias("pts"))
    want = df.select(g.struct.field("rest").alias("rest"), g.struct.field("host").alias("host"),
                     pl.lit(None, dtype=pl.String).alias("pts"))
    assert_frame_equal(got, want)


def test_heroku_logplex_prefix_joins_a_traceback_per_dyno(tmp_path):
    """`heroku logs` prefixes every traceback line (jacobian/channels-example#9, redis-py 2.x on a worker dyno):
    the prefix is peeled, the traceback is one record, the dyno is its host."""
    from pathlib import Path

    from postmortem.input.ingest import ingest
    from postmortem.input.options import IngestOptions

    src = Path(__file__).parent / "data" / "redis_py" / "heroku-worker.log"
    res = ingest([str(src)], IngestOptions())
    f = res.inputs[0]
    assert f.parser == "log:heroku+bare" and f.unrecognized_lines == 0 and f.event_lines == f.lines == 11
    ev = res.events.row(0, named=True)
    assert (res.events.height, ev["kind"], ev["host"], ev["line"]) == (1, "redis.connect_failed", "worker.1", 1)
    assert ev["entity"] == "redis:ec2-54-221-211-164.compute-1.amazonaws.com:13419"


def test_rancher_viewer_prefix_gives_the_time_in_the_browser_zone():
    """Rancher 1.x's log viewer (rancher/ui container-logs, rancher/rancher#1385): the en-US browser time before each
    line is the record's time when it has none, read in --tz (zone-less); `Unknown Date` lines are blank once peeled."""
    from pathlib import Path

    from postmortem.input.ingest import ingest
    from postmortem.input.options import IngestOptions

    src = Path(__file__).parent / "data" / "redis_py" / "rancher-worker.log"
    res = ingest([str(src)], IngestOptions(tz="America/New_York"))
    (f,) = res.inputs
    assert f.parser == "log:rancher+bare" and f.accounted()
    assert (f.lines, f.event_lines, f.unrecognized_lines, f.blank_lines) == (18, 16, 1, 1)
    assert res.events.filter(pl.col("source") == "redis_py").select("line", "ts").rows() == [
        (1, datetime(2016, 11, 4, 23, 59, 54, tzinfo=UTC)), (15, datetime(2016, 11, 5, 0, 0, 4, tzinfo=UTC))]


def test_rancher_prefix_yields_to_the_record_s_own_time():
    text = ("12/5/2022 11:34:54 PM  2022-12-05 23:34:50,120 ERROR app.cache - redis GET failed\n"
            "12/5/2022 11:34:55\u202fPM Invalid Date Invalid Date\n")
    records, plan, blank, _ = frame(text)
    assert plan.outer == "rancher" and "iso_level" in plan.variants and blank == 0
    assert records.get_column("ts").to_list()[0] == datetime(2022, 12, 5, 23, 34, 50, 120000, tzinfo=UTC)


_LINE = st.from_regex(r"[A-Za-z][A-Za-z0-9 .:()'=_-]{0,40}", fullmatch=True)


@settings(max_examples=80)
@given(lines=st.lists(st.tuples(st.sampled_from(["", "  ", "    ", "\t"]), _LINE, st.booleans()), min_size=1, max_size=25),
       sep=st.sampled_from([" ", "  "]), month=st.integers(1, 12), hour=st.integers(1, 12), pm=st.booleans())
def test_rancher_prefixed_copy_frames_like_the_bare_text(lines, sep, month, hour, pm):
    """Any bare text (indented continuation lines, blank lines) frames into the same records and the same accounting
    behind the viewer's prefix, every record timed."""
    bare = [(indent + text) if keep else "" for indent, text, keep in lines]
    stamp = f"{month}/{month + 3}/2016 {hour}:07:0{month % 10} {'PM' if pm else 'AM'}"
    prefixed = "".join(f"{stamp}{sep}{line}\n" if line else f"{stamp}\n" for line in bare)
    a, plan, a_blank, _ = frame(prefixed)
    b, _, b_blank, _ = frame("\n".join(bare) + "\n")
    assert plan.outer == "rancher" and a_blank == b_blank
    assert a.select("line", "n_lines").rows() == b.select("line", "n_lines").rows()
    def unindented(df: pl.DataFrame) -> list[str]:  # a one-space separator may take one space of an indent
        return df.get_column("text").str.replace_all(r"(?m)^[ \t]+", "").to_list()

    assert unindented(a) == unindented(b)
    assert a.get_column("ts").null_count() == 0


@pytest.mark.parametrize("text", [
    "worker_1  | Traceback (most recent call last):\nworker_1  | \nworker_1  |   File \"x.py\", line 1\nworker_1  |\n",
    '{"log":"boom\\n","stream":"stderr","time":"2024-01-15T10:02:11.5Z"}\n'
    '{"log":"\\n","stream":"stderr","time":"2024-01-15T10:02:11.6Z"}\n',
], ids=["compose", "docker_json"])
def test_a_line_with_only_its_prefix_is_a_blank_line(tmp_path, text):
    """Nothing after the transport prefix: a blank line of the log, counted as one (it used to be in no count)."""
    from postmortem.input.ingest import ingest

    path = tmp_path / "app.log"
    path.write_text(text)
    (f,) = ingest([str(path)]).inputs
    assert f.accounted() and f.blank_lines >= 1
    # the whole-file framer too (ingest took the small-log batch path)
    records, _, blank, _, lines = frame_counted(text)
    assert records.get_column("n_lines").sum() + blank == lines
