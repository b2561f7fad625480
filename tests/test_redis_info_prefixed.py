"""redis INFO dumps behind a docker-compose prefix, and Azure's `server_load:` (issue #17): read as a bare dump is."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.base import ParseContext
from parsers.metrics import RedisInfo
from postmortem.input.ingest import ingest
from postmortem.input.options import IngestOptions

from .conftest import DATA

METRICS = DATA / "metrics"
NOW = datetime(2026, 3, 16, 17, 0, tzinfo=UTC)
CTX = ParseContext(path="redis-info.log", now=NOW, now_source="--now")
PREFIX = "redis-1  | "


def _samples(fp) -> list[tuple[str, float]]:
    return fp.events.select("metric", "value").rows()


def _counts(fp) -> tuple[int, int, int, int]:
    return fp.lines, fp.event_lines, fp.unrecognized_lines, fp.blank_lines


def test_compose_info_dump_is_read_as_the_bare_dump(tmp_path):
    """redis/redis#14894 (redis-stack 7.4.7 through `docker compose up`): every field a sample, every line accounted,
    the same samples and counts as the same lines without their prefix."""
    text = (METRICS / "redis-info-compose.log").read_text()
    res = ingest([str(METRICS / "redis-info-compose.log")], IngestOptions(now=NOW))
    (f,) = res.inputs
    assert f.parser == "redis_info" and f.accounted()
    assert (f.lines, f.unrecognized_lines, f.blank_lines) == (66, 1, 4)  # the `------ INFO OUTPUT ------` banner
    got = dict(res.events.filter(pl.col("kind") == "metric.sample").select("metric", "value").rows())
    assert got["connected_clients"] == 4 and got["maxclients"] == 10000 and got["connections_received"] == 5
    assert got["rejected_connections"] == 0 and got["used_cpu_sys"] == 0.087386
    bare = "".join(line.removeprefix(PREFIX) + "\n" for line in text.splitlines())
    prefixed, plain = RedisInfo().parse(text, CTX), RedisInfo().parse(bare, CTX)
    assert _samples(prefixed) == _samples(plain) and _counts(prefixed) == _counts(plain)


def test_azure_server_load_is_a_metric_of_the_redis_entity():
    """Azure Cache for Redis `info cpu` (microsoftarchive/redis#385): `server_load` is the normalized metric."""
    res = ingest([str(METRICS / "azure-info-cpu.txt")], IngestOptions(now=NOW))
    (f,) = res.inputs
    assert f.parser == "redis_info" and f.accounted() and (f.event_lines, f.blank_lines) == (7, 6)
    (row,) = res.events.filter(pl.col("metric") == "server_load").rows(named=True)
    assert row["value"] == 10.36 and row["entity"].startswith("redis:") and row["line"] == 9


_FIELD = st.tuples(st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
                   st.one_of(st.integers(-10**9, 10**12).map(str), st.from_regex(r"[a-z0-9.,=:-]{0,12}", fullmatch=True)))


@settings(max_examples=80)
@given(
    sections=st.lists(st.tuples(st.sampled_from(["Server", "Clients", "Stats", "CPU", "Memory"]),
                                st.lists(_FIELD, min_size=1, max_size=6)), min_size=1, max_size=4),
    service=st.from_regex(r"[a-z][a-z0-9]{0,10}[_-][0-9]", fullmatch=True),
    pad=st.integers(1, 12),
    stripped=st.booleans(),
)
def test_any_dump_reads_the_same_behind_the_prefix(sections, service, pad, stripped):
    """For any INFO dump (connected_clients first, so it is one), the compose-prefixed copy gives the same samples,
    in the same order, and the same line accounting; a bare `|` whose trailing space an editor dropped too."""
    lines = ["# Clients", "connected_clients:7", ""]
    for name, fields in sections:
        lines += [f"# {name}", *(f"{k}:{v}" for k, v in fields), ""]
    bare = "\n".join(lines) + "\n"
    head = service + " " * pad + "|"
    prefixed = "".join((head if (stripped and not line) else head + " " + line) + "\n" for line in lines)
    assert RedisInfo().sniff(prefixed) == RedisInfo().sniff(bare) > 0.5
    a, b = RedisInfo().parse(prefixed, CTX), RedisInfo().parse(bare, CTX)
    assert _samples(a) == _samples(b) and _counts(a) == _counts(b)
    assert a.lines == a.event_lines + a.unrecognized_lines + a.blank_lines


def test_a_compose_log_that_is_not_info_is_left_to_the_framer(tmp_path):
    """A redis-server log through compose that quotes one INFO-like word is still a log."""
    path = tmp_path / "compose.log"
    path.write_text(
        "cache_1     | 1:C 07 Jan 2023 19:16:34.740 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo\n"
        "cache_1     | 1:M 07 Jan 2023 19:16:34.747 * Ready to accept connections\n"
        "web_1       | 2023-01-07 19:16:40,101 INFO app - connected_clients:3 per health check\n")
    (f,) = ingest([str(path)], IngestOptions(now=NOW)).inputs
    assert f.parser.startswith("log:compose") and f.accounted()
