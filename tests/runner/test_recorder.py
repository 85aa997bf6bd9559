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


def test_the_channel_takes_progress_lines_and_refuses_malformed_ones():
    seen = []
    channel = MetricsChannel(1 << 20, on_point=None, on_progress=lambda d, t: seen.append((d, t)))
    channel.feed(json.dumps({"progress": {"done": 3, "total": 10}}).encode() + b"\n")
    assert channel.progress == (3.0, 10.0) and seen == [(3.0, 10.0)] and not channel.problem
    channel.feed(json.dumps({"progress": {"done": 3, "total": 0}}).encode() + b"\n")
    assert "progress" in channel.problem
