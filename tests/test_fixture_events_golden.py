"""Golden files for the events of each bundled incident fixture.

`postmortem parse` (ndjson, `ts` as an ISO string) of tests/data/example-incident and of the two real
recordings under tests/data/recorded is compared row by row with tests/golden/events_<name>.ndjson, and
the per-file accounting (parser, lines, events, unrecognized and blank lines) with
tests/golden/events_<name>.files.tsv. Any change in what the parsers emit for these incidents shows up as
a reviewable diff; accept an intended one with `pytest --update-golden tests/test_fixture_events_golden.py`.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

import pytest
from click.testing import CliRunner

from postmortem.cli import main
from postmortem.input.ingest import ingest
from postmortem.schema import EVENT_COLUMNS

from .conftest import DATA

FIXTURES = {
    "example_incident": DATA / "example-incident",
    "storm": DATA / "recorded" / "storm",
    "healthy": DATA / "recorded" / "healthy",
}
ACCOUNTING_FIELDS = ("path", "parser", "lines", "events", "unrecognized_lines", "blank_lines")


def parse_ndjson(folder) -> str:
    res = CliRunner().invoke(main, ["parse", str(folder), "-f", "ndjson"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.stdout


def accounting(folder) -> tuple[str, list]:
    inputs = sorted(ingest([str(folder)]).inputs, key=lambda i: i.path)
    rows = ["\t".join(ACCOUNTING_FIELDS)]
    rows += ["\t".join(str(getattr(i, f)) for f in ACCOUNTING_FIELDS) for i in inputs]
    return "\n".join(rows) + "\n", inputs


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_events_golden(name, golden):
    text = parse_ndjson(FIXTURES[name])
    rows = [json.loads(line) for line in text.splitlines()]
    assert rows, f"{name}: no events"
    assert all(list(r) == list(EVENT_COLUMNS) for r in rows), "every row has the schema's columns, in order"
    assert [r["event_id"] for r in rows] == list(range(len(rows)))
    stamps = [datetime.fromisoformat(r["ts"]) for r in rows if r["ts"] is not None]
    assert stamps == sorted(stamps), "events are sorted by time"
    golden(f"events_{name}.ndjson", text)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_accounting_golden(name, golden):
    table, inputs = accounting(FIXTURES[name])
    for i in inputs:
        assert not i.skipped and i.accounted(), f"{i.path}: lines not accounted for"
    per_path = Counter(json.loads(line)["path"] for line in parse_ndjson(FIXTURES[name]).splitlines())
    assert per_path == Counter({i.path: i.events for i in inputs if i.events}), "events per file match the accounting"
    golden(f"events_{name}.files.tsv", table)
