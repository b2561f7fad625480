"""RabbitMQ queue snapshots: `rabbitmqctl list_queues` tables and the management API's `/api/queues` JSON,
one snapshot or a series of them, each after a timestamp line (`date` in a watch loop).

Every numeric column of a queue row becomes a `metric.sample` of the queue's own entity
(`rabbitmq:<queue>`, `rabbitmq:<vhost>/<queue>` outside `/`) under the name rabbitmq_prometheus gives the
same figure (`rabbitmq_queue_messages`, `rabbitmq_queue_messages_ready`, `rabbitmq_queue_messages_unacked`,
`rabbitmq_queue_consumers`), so a scrape and a pasted table meet; the management API's `message_stats`
rates are `rabbitmq_queue_publish_rate`, `…_deliver_get_rate`, `…_ack_rate` (messages per second).

Layouts (checked against rabbitmqctl's docs and the HTTP API reference, docs/rabbitmqctl.8.md and
docs/management.md in rabbitmq/rabbitmq-website):
* 3.7+: `Timeout: 60.0 seconds ...`, `Listing queues for vhost / ...`, a tab-separated header (`name`,
  `messages`, … as asked on the command line), rows; `-q` / `--no-table-headers` drop the first lines
  or the header (then the columns are the default `name messages`, or `name messages consumers` for three).
* 3.6 and older: `Listing queues ...`, rows without a header, `...done.`.
* `--formatter json`: a JSON array of objects, one per queue; `--formatter pretty_table`: a box table.
* `/api/queues` (curl | jq, or compact): an array of queue objects (`name`, `vhost`, `messages`,
  `messages_ready`, `messages_unacknowledged`, `consumers`, `message_stats`), or a paged `{"items": […]}`.
Snapshots without a time are dated `ctx.now`, and the FileParse says so. A snapshot file is small (one row
per queue per snapshot), so it is read line by line.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from itertools import islice
from typing import ClassVar

import polars as pl

from parsers.base import FileParse, ParseContext
from parsers.metrics.rows import (
    SAMPLE_KIND,
    Sample,
    account,
    from_epoch,
    now_assumption,
    samples_frame,
    split_text,
)
from postmortem.input.timeparse import parse_ts
from postmortem.model import Kind

# rabbitmqctl column (queue info item) → the rabbitmq_prometheus name of the same figure
_COLUMNS = {
    "messages": "rabbitmq_queue_messages",
    "messages_ready": "rabbitmq_queue_messages_ready",
    "messages_unacknowledged": "rabbitmq_queue_messages_unacked",
    "consumers": "rabbitmq_queue_consumers",
    "memory": "rabbitmq_queue_process_memory_bytes",
}
_RATES = {"publish_details": "rabbitmq_queue_publish_rate", "deliver_get_details": "rabbitmq_queue_deliver_get_rate",
          "ack_details": "rabbitmq_queue_ack_rate"}
# every queue info item rabbitmqctl knows (a header is a line of these and nothing else)
_INFO_ITEMS = {
    "name", "durable", "auto_delete", "arguments", "policy", "pid", "owner_pid", "exclusive",
    "exclusive_consumer_pid", "exclusive_consumer_tag", "messages_ready", "messages_unacknowledged", "messages",
    "messages_ready_ram", "messages_unacknowledged_ram", "messages_ram", "messages_persistent", "message_bytes",
    "message_bytes_ready", "message_bytes_unacknowledged", "message_bytes_ram", "message_bytes_persistent",
    "head_message_timestamp", "disk_reads", "disk_writes", "consumers", "consumer_utilisation",
    "consumer_capacity", "memory", "slave_pids", "synchronised_slave_pids", "state", "type", "leader", "members",
    "online", "vhost", "node", "effective_policy_definition", "operator_policy", "mirror_pids",
}
_DEFAULT = {2: ["name", "messages"], 3: ["name", "messages", "consumers"]}
_COMMAND = re.compile(r"^(?:[$#>]\s*)?(?:sudo\s+)?(?:\S*/)?rabbitmqctl\b(.*?)\blist_queues\b(.*)$")
_CHATTER = re.compile(r"^(?:Timeout: [\d.]+ seconds \.\.\.|Listing queues(?: for vhost \S+)? \.\.\.|\.\.\.done\.)$")
_BORDER = re.compile(r"^[┌├└╞+][─┬┼┴┐┤┘═╪╡+\-]+$")
_TS_LINE = re.compile(
    r"^[-=#\s\[]*(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d| ?UTC)?|\d{10}(?:\.\d+)?)[-=#\s\]]*$")
# `date`'s default output: "Sun Dec  6 03:08:31 UTC 2026"
_DATE_CMD = re.compile(r"^[A-Z][a-z]{2} ([A-Z][a-z]{2}) +(\d{1,2}) (\d\d:\d\d:\d\d) (UTC|GMT|[A-Z]{3,5}) (\d{4})$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


class RabbitQueues:
    """`rabbitmqctl list_queues` tables (any columns, with or without header, json or pretty_table formatter)
    and management API `/api/queues` JSON: queue depth and consumers over time."""

    name: ClassVar[str] = "rabbitmq_queues"
    kinds: ClassVar[tuple[Kind, ...]] = (SAMPLE_KIND,)
    example: ClassVar[str] = "Listing queues for vhost / ...\nname\tmessages\tconsumers\ncelery\t1523\t0"
    samples: ClassVar[tuple[str, ...]] = (
        # rabbitmqctl 3.8 (docs/rabbitmqctl.8.md "list_queues": "Timeout: 60.0 seconds ..." and the
        # "Listing queues for vhost / ..." banner, tab-separated header of the asked columns)
        "Timeout: 60.0 seconds ...\nListing queues for vhost / ...\nname\tmessages\tconsumers\ncelery\t1523\t0\n"
        "celery.pidbox\t0\t2\n",
        # rabbitmqctl 3.6 default columns, no header, "...done." trailer (as pasted in celery issues)
        "Listing queues ...\ncelery\t0\ndefault\t12\n...done.\n",
        # --formatter json (one object per line inside the array)
        '[\n{"name":"celery","messages":1523,"consumers":0}\n,{"name":"emails","messages":4,"consumers":1}\n]\n',
        # management API GET /api/queues, trimmed to the fields we read (docs/management.md / the HTTP API reference)
        '[{"name":"orders","vhost":"/","node":"rabbit@rabbit-0","state":"running","messages":8120,'
        '"messages_ready":8000,"messages_unacknowledged":120,"consumers":0,"message_stats":{"publish":91234,'
        '"publish_details":{"rate":412.6},"deliver_get":83114,"deliver_get_details":{"rate":0.0}}}]\n',
    )

    def sniff(self, head: str) -> float:
        # the first 50 non-blank lines are all it reads; each pattern runs only on lines holding a word it needs
        # (issue 20: choosing a parser for a folder of logs; tests/test_sniff_prefilters.py compares the plain form)
        lines = list(islice((s for ln in head[:65536].splitlines()[:400] if (s := ln.strip())), 50))
        if not lines:
            return 0.0
        if any("rabbitmqctl" in ln and _COMMAND.match(ln) or ln.startswith("Listing queues") and _CHATTER.match(ln)
               for ln in lines):
            return 0.9
        if any("name" in ln and _header(ln) for ln in lines):
            return 0.85
        if lines[0].startswith(("[", "{")) or any(_TS_LINE.match(ln) or _DATE_CMD.match(ln) for ln in lines[:3]):
            body = head[:65536]
            queue_keys = len(re.findall(r'"(?:messages_ready|messages_unacknowledged|consumers|messages)"\s*:', body))
            if queue_keys >= 2 and re.search(r'"name"\s*:', body):
                return 0.85
        return 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        lines = split_text(text)
        starts = _line_starts(lines)
        samples: list[Sample] = []
        used: set[int] = set()
        table: set[int] = set()  # chatter, headers, borders, commands: counted only when a row was read
        snap_ts: datetime | None = None
        columns: list[str] | None = None
        undated = 0
        i = 0
        while i < len(lines):
            raw = lines[i].strip()
            stamp = _stamp(raw, ctx.tz)
            if stamp is not None:
                snap_ts, columns = stamp, None
                table.add(i)
                i += 1
                continue
            if raw.startswith(("[", "{")):
                end, rows = _json_block(text, starts, lines, i)
                if rows is not None:
                    got = [s for item in rows for s in _json_samples(item, i + 1, snap_ts)]
                    samples.extend(got)
                    undated += sum(1 for s in got if s.ts is None)
                    # a snapshot with no queue yet (`[]`) or before the first stats: read, without a figure
                    (used if got else table).update(range(i, end))
                    i = end
                    continue
            command = _COMMAND.match(raw)
            if command:
                columns = _command_columns(command.group(2))
                table.add(i)
            elif _CHATTER.match(raw) or _BORDER.match(raw):
                table.add(i)
            elif _header(raw):
                columns = _split(raw)
                table.add(i)
            elif raw:
                got = _row_samples(_split(raw), columns, i + 1, snap_ts)
                if got:
                    samples.extend(got)
                    undated += sum(1 for s in got if s.ts is None)
                    used.add(i)
            i += 1
        if samples:
            used |= table
        for s in samples:
            if s.ts is None:
                s.ts = ctx.now
        assumptions = [now_assumption(ctx, f"{undated} queue figures")] if undated else []
        problems = [] if samples else ["no queue row found"]
        return account(lines, used, samples_frame(samples, ctx.path), assumptions=assumptions, problems=problems,
                       records=len(samples))


def _line_starts(lines: list[str]) -> list[int]:
    """Character offset of each line in the text split_text came from (lines end with one newline, CR kept out)."""
    starts, pos = [], 0
    for ln in lines:
        starts.append(pos)
        pos += len(ln) + 1
    return starts


def _json_block(text: str, starts: list[int], lines: list[str], i: int) -> tuple[int, list | None]:
    """(line after the JSON document starting on line i, its queue objects), or (i + 1, None)."""
    chunk = "\n".join(lines[i:])
    try:
        doc, consumed = json.JSONDecoder().raw_decode(chunk.lstrip())
    except ValueError:
        return i + 1, None
    consumed += len(chunk) - len(chunk.lstrip())
    end = i + chunk[:consumed].count("\n") + 1
    if isinstance(doc, dict):
        doc = doc.get("items", [doc])
    if not isinstance(doc, list):
        return end, None
    queues = [item for item in doc if isinstance(item, dict) and isinstance(item.get("name"), str)]
    return end, (queues if queues or not doc else None)  # `[]`: no queue yet; other JSON is not a queue list


def _labels(name: str, vhost: object) -> dict[str, str]:
    labels = {"queue": name}
    if isinstance(vhost, str) and vhost:
        labels["vhost"] = vhost
    return labels


def _json_samples(item: dict, line: int, ts: datetime | None) -> list[Sample]:
    labels = _labels(item["name"], item.get("vhost"))
    out = [Sample(line, metric, float(item[col]), ts, dict(labels))
           for col, metric in _COLUMNS.items() if _is_number(item.get(col))]
    stats = item.get("message_stats")
    if isinstance(stats, dict):
        for key, metric in _RATES.items():
            rate = stats.get(key, {}).get("rate") if isinstance(stats.get(key), dict) else None
            if _is_number(rate):
                out.append(Sample(line, metric, float(rate), ts, dict(labels)))
    return out


def _row_samples(fields: list[str], columns: list[str] | None, line: int, ts: datetime | None) -> list[Sample]:
    names = columns or _DEFAULT.get(len(fields))
    if not names or len(names) != len(fields) or "name" not in names:
        return []
    row = dict(zip(names, fields, strict=True))
    numeric = {c: row[c] for c in _COLUMNS if c in row and _NUMBER.match(row[c])}
    if not numeric or not row["name"] or _NUMBER.match(row["name"]):
        return []
    labels = _labels(row["name"], row.get("vhost"))
    return [Sample(line, _COLUMNS[c], float(v), ts, dict(labels)) for c, v in numeric.items()]


def _split(line: str) -> list[str]:
    """Cells of a table line: tabs (rabbitmqctl), box bars (pretty_table), else runs of spaces."""
    if "│" in line or line.startswith("|"):
        return [c.strip() for c in re.split(r"[│|]", line.strip().strip("│|"))]
    return [c for c in (line.split("\t") if "\t" in line else line.split()) if c != ""]


def _header(line: str) -> bool:
    cells = _split(line)
    return len(cells) >= 2 and "name" in cells and all(c in _INFO_ITEMS for c in cells)


def _command_columns(args: str) -> list[str] | None:
    """The info items asked for on a `rabbitmqctl list_queues …` line (None: the default columns)."""
    words, skip = [], False
    for word in args.split():
        if skip:
            skip = False
        elif word in ("-p", "--vhost", "-t", "--timeout", "--formatter", "-n", "--node"):
            skip = True
        elif not word.startswith("-") and word in _INFO_ITEMS:
            words.append(word)
    return words or None


def _stamp(line: str, tz: str) -> datetime | None:
    m = _TS_LINE.match(line)
    if m:
        value = m.group(1)
        if re.fullmatch(r"\d{10}(?:\.\d+)?", value):
            return from_epoch(float(value))
        return _parse_one(value, tz)
    m = _DATE_CMD.match(line)
    if m:
        month, day, clock, zone, year = m.groups()
        try:
            naive = datetime.strptime(f"{year} {month} {day} {clock}", "%Y %b %d %H:%M:%S")
        except ValueError:
            return None
        if zone in ("UTC", "GMT"):
            return naive.replace(tzinfo=UTC)
        return _parse_one(naive.isoformat(sep=" "), tz)
    return None


def _parse_one(value: str, tz: str) -> datetime | None:
    """One timestamp line through the shared parser (zones, `--tz`), like every other source."""
    return pl.DataFrame({"t": [value]}).select(parse_ts(pl.col("t"), tz).ts).item()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
