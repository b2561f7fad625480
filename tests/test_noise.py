"""Summarizing noise must never hide what a recognizer would have found.

Every fixture is ingested twice, with and without summarizing low-level app lines into
`app.activity`: the non-app events (everything the recognizers claim) and the line accounting
must be identical, and the activity counts must add up to the app.log records they replace. Connection
churn lines (parsers/churn.py) must add up, per second, to the lines they replace.
"""

from __future__ import annotations

import polars as pl
import pytest

from postmortem.input.ingest import IngestOptions, ingest

from .conftest import DATA

FIXTURES = sorted(p.name for p in DATA.iterdir() if p.is_dir() and p.name not in ("hostile",)) + ["exports"]


CHURN = ("redis.server.client_accepted", "redis.server.client_closed")


@pytest.mark.slow
@pytest.mark.parametrize("name", FIXTURES)
def test_summarizing_keeps_every_recognized_event(name, request):
    folder = request.getfixturevalue("storm_exports") if name == "exports" else DATA / name  # exports: generated
    on = ingest([str(folder)], IngestOptions(summarize_noise=True))
    off = ingest([str(folder)], IngestOptions(summarize_noise=False))
    cols = ["ts", "source", "kind", "path", "line", "host", "entity", "message", "attrs"]
    plain = (pl.col("source") != "app") & ~pl.col("kind").is_in(CHURN)
    assert on.events.filter(plain).select(cols).equals(off.events.filter(plain).select(cols))
    for a, b in zip(on.inputs, off.inputs, strict=True):
        assert (a.path, a.lines, a.unrecognized_lines, a.blank_lines, a.event_lines) == (
            b.path, b.lines, b.unrecognized_lines, b.blank_lines, b.event_lines)
    summarized = on.events.filter(pl.col("kind") == "app.activity").get_column("value").sum() or 0
    app_on = on.events.filter(pl.col("kind") == "app.log").height
    app_off = off.events.filter(pl.col("kind") == "app.log").height
    assert app_on + summarized == app_off
    # connection churn (parsers/churn.py): per file, kind and second, the weights add up to the lines
    # and every summary row is the first line of its group, as it was
    per_second = ["path", "kind", pl.col("ts").dt.truncate("1s")]
    churn_on = on.events.filter(pl.col("kind").is_in(CHURN))
    churn_off = off.events.filter(pl.col("kind").is_in(CHURN))
    weights = churn_on.group_by(per_second).agg(n=pl.col("value").sum().cast(pl.Int64)).sort(pl.all())
    counts = churn_off.group_by(per_second).agg(n=pl.len().cast(pl.Int64)).sort(pl.all())
    assert weights.equals(counts)
    if name == "exports":  # one-line JSON exports: every entry is on line 1, a line names no record
        return
    firsts = churn_off.join(churn_on.select("path", "line"), on=["path", "line"], how="semi")
    assert firsts.height == churn_on.height
    assert firsts.select("ts", "kind", "host", "entity").equals(churn_on.select("ts", "kind", "host", "entity"))


def test_activity_counts_per_second_with_lines_out_of_order():
    """Runs of one second are counted; a second that comes back later still adds up to one record."""
    from parsers.envelopes import frame

    stamps = ["10:00:00,100", "10:00:00,900", "10:00:01,000", "10:00:00,950", "10:00:01,500", "10:00:02,000"]
    text = "".join(f"2024-01-15 {s} INFO app.jobs - processed job {i}\n" for i, s in enumerate(stamps))
    records, _, _, _ = frame(text, summarize=True)
    activity = records.filter(pl.col("envelope") == "activity").sort("ts")
    assert activity.select(pl.col("ts").dt.strftime("%S"), "n_lines", "line").rows() == [
        ("00", 3, 1), ("01", 2, 3), ("02", 1, 6)]


def test_a_recognizer_keeps_its_lines_out_of_folding_by_declaring_keep_words(monkeypatch):
    """The noise filter is built from the registered recognizers' `keep_words`: a new recognizer that
    declares its word gets its INFO line as a record, without touching parsers/noise.py."""
    import parsers
    from parsers import noise
    from parsers.envelopes import frame
    from parsers.recognize import recognize

    class Bulkhead:  # (circuit breakers have a real recognizer now: parsers/breakers.py)
        name = "polly_bulkhead"
        kinds = ()
        keep_words = ("Bulkhead",)
        samples = ()
        example = ""

        def recognize(self, records: pl.DataFrame) -> pl.DataFrame:
            return records.filter(pl.col("text").str.contains("Bulkhead rejected")).select(
                "rec", kind=pl.lit("polly.bulkhead_rejected"))

    text = "".join(f"2024-01-15 10:00:0{i},100 INFO app.jobs - processed job {i}\n" for i in range(5))
    text += "2024-01-15 10:00:05,000 INFO Polly - Bulkhead rejected the call\n"

    def claimed() -> list[str]:
        noise.relevant_pattern.cache_clear()
        records, _, _, _ = frame(text, summarize=True)
        kept = records.filter((pl.col("envelope") != "activity").fill_null(True)).with_row_index("rec")
        return recognize(kept).get_column("kind").to_list()

    monkeypatch.setattr(parsers, "RECOGNIZERS", (*parsers.RECOGNIZERS, Bulkhead()))
    assert claimed() == ["polly.bulkhead_rejected"]
    monkeypatch.setattr(Bulkhead, "keep_words", ())
    assert claimed() == [], "without the declaration the INFO line is folded into app.activity"
    monkeypatch.undo()
    noise.relevant_pattern.cache_clear()


def _time_order_problems(tmp_path, lines: list[str]) -> list[str]:
    from postmortem.input.ingest import ingest

    log = tmp_path / "pods.log"
    log.write_text("".join(line + "\n" for line in lines))
    (info,) = ingest([str(log)]).inputs
    return [p for p in info.problems if "out of time order" in p]


def test_a_summarized_second_is_not_out_of_order_after_an_earlier_time_in_that_second(tmp_path):
    """Pods interleaved in one exported file: a failure at .423 above the first noise line of another
    pod at .500 in the same second. The activity row is dated by its second (floored), which is not
    earlier than anything in that second: no warning (the dense benchmark printed one per piece)."""
    lines = ["a | 2024-01-15 10:00:00,423 ERROR app.cart - redis.exceptions.ConnectionError: Error 111 "
             "connecting to redis:6379. Connection refused.",
             "b | 2024-01-15 10:00:00,500 INFO app.jobs - processed job 1 in 3 ms",
             "b | 2024-01-15 10:00:01,100 INFO app.jobs - processed job 2 in 3 ms"]
    assert _time_order_problems(tmp_path, lines) == []


def test_a_summarized_second_before_a_time_above_it_is_out_of_order(tmp_path):
    """The check still sees a noise second that lies wholly before a time above it."""
    lines = ["a | 2024-01-15 10:00:05,423 ERROR app.cart - redis.exceptions.ConnectionError: Error 111 "
             "connecting to redis:6379. Connection refused.",
             "b | 2024-01-15 10:00:03,500 INFO app.jobs - processed job 1 in 3 ms",
             "b | 2024-01-15 10:00:06,100 INFO app.jobs - processed job 2 in 3 ms"]
    (problem,) = _time_order_problems(tmp_path, lines)
    assert problem.startswith("1 events out of time order (up to 2.000 s")  # by whole seconds
