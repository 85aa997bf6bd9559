"""The recording interface a recipe gets: metric points and progress reports."""

from __future__ import annotations

import json

import pytest

from runner.channel import MetricsChannel
from runner.recorder import Recorder, RecordingError


def test_progress_reaches_the_sink_throttled_and_always_at_the_end():
    sent = []
    log = Recorder(sink=sent.append)
    for step in range(1, 1001):
        log.progress(step, 1000)
    assert sent[0] == {"progress": {"done": 1.0, "total": 1000.0}}
    assert sent[-1] == {"progress": {"done": 1000.0, "total": 1000.0}}
    assert len(sent) < 50  # a tight loop does not flood the channel
    assert log.latest_progress == (1000.0, 1000.0)
    assert log.series() == {}  # progress is not a metric


@pytest.mark.parametrize("done, total", [(1, 0), (float("nan"), 10), (1, float("inf")), ("x", 3)])
def test_progress_refuses_what_is_not_two_finite_numbers(done, total):
    with pytest.raises(RecordingError):
        Recorder().progress(done, total)


def _line(message: dict) -> bytes:
    return json.dumps(message).encode() + b"\n"


def test_the_channel_takes_progress_lines_and_refuses_malformed_ones():
    seen = []
    channel = MetricsChannel(1 << 20, [7], on_progress=lambda *args: seen.append(args))
    channel.feed(_line({"progress": {"done": 3, "total": 10}}))
    assert channel.progress == {7: (3.0, 10.0)} and seen == [(7, 3.0, 10.0)]
    assert not channel.problem
    channel.feed(_line({"progress": {"done": 3, "total": 0}}))
    assert "progress" in channel.problem


def test_a_batch_channel_sorts_lines_by_seed_and_refuses_a_seed_not_in_the_batch():
    channel = MetricsChannel(1 << 20, [1, 2], tagged=True)
    channel.feed(_line({"seed": 2, "x": 0, "axis": "step", "values": {"loss": 0.5}}))
    channel.feed(_line({"seed": 1, "x": 0, "axis": "step", "values": {"loss": 0.7}}))
    channel.feed(_line({"seed": 1, "progress": {"done": 1, "total": 4}}))
    assert channel.recorders[1].series()["loss"].y == [0.7]
    assert channel.recorders[2].series()["loss"].y == [0.5]
    assert channel.progress == {1: (1.0, 4.0)} and not channel.problem
    channel.feed(_line({"x": 1, "axis": "step", "values": {"loss": 0.1}}))
    assert "names no seed of this batch" in channel.problem
