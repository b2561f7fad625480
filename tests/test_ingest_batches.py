"""The recognizers' batch is bounded by bytes as well as records (issue #20: the framed records of a
dense log held until 100,000 of them were waiting were the ingest's peak memory); a whole file is
recognized the same in any batch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

import postmortem.input.file_group as file_group
import postmortem.input.read_file as read_file
from postmortem.input.ingest import IngestOptions, ingest

DATA = Path(__file__).parent / "data"


def _ingest_counting_batches(folder: Path, monkeypatch) -> tuple[object, int]:
    batches = []
    real = file_group._classify_pending

    def counting(pending, opts, part):
        if pending:
            batches.append(len(pending))
        return real(pending, opts, part)

    monkeypatch.setattr(file_group, "_classify_pending", counting)
    result = ingest([str(folder)], IngestOptions(jobs=1))
    monkeypatch.setattr(file_group, "_classify_pending", real)
    return result, len(batches)


@pytest.mark.slow
def test_a_batch_is_cut_by_bytes_and_gives_the_same_events_and_accounting(tmp_path, monkeypatch):
    for folder in ("recorded/storm", "example-incident"):
        for f in (DATA / folder).iterdir():
            if f.suffix == ".log":
                shutil.copy(f, tmp_path / f"{Path(folder).name}-{f.name}")
    monkeypatch.setattr(read_file, "SMALL_LOG_CHARS", 0)  # every log framed alone, waiting for a batch
    whole, whole_batches = _ingest_counting_batches(tmp_path, monkeypatch)
    monkeypatch.setattr(file_group, "CLASSIFY_BATCH_BYTES", 1)  # each framed log is a batch of its own
    cut, cut_batches = _ingest_counting_batches(tmp_path, monkeypatch)
    logs = len(list(tmp_path.iterdir()))
    assert whole_batches == 1 and cut_batches == logs > 3
    assert whole.events.height > 500
    assert_frame_equal(whole.events, cut.events)
    assert whole.inputs == cut.inputs
    assert whole.warnings == cut.warnings


def test_the_byte_bound_is_below_the_record_bound_for_a_dense_log():
    """100,000 framed StackExchange.Redis timeouts (~1.7 kB each) are ~170 MB: the byte bound cuts first."""
    assert file_group.CLASSIFY_BATCH_BYTES < file_group.CLASSIFY_BATCH_ROWS * 1700
