"""Min/max bucket downsampling keeps what a researcher looks for in a long curve."""

from __future__ import annotations

import numpy as np
import pytest

from server.web.downsample import MAX_PLOT_POINTS, downsample_min_max


def test_a_short_series_comes_back_unchanged():
    x, y = np.arange(100.0), np.linspace(1, 0, 100)
    got_x, got_y = downsample_min_max(x, y, max_points=100)
    assert np.array_equal(got_x, x) and np.array_equal(got_y, y)


def test_a_long_series_is_cut_to_at_most_max_points_in_x_order():
    x = np.arange(100_000.0)
    y = np.sin(x / 500.0)
    got_x, got_y = downsample_min_max(x, y)
    assert MAX_PLOT_POINTS // 2 < got_x.size <= MAX_PLOT_POINTS
    assert np.all(np.diff(got_x) > 0)
    # Every kept point is a real point of the series, not an interpolation.
    assert np.array_equal(got_y, np.sin(got_x / 500.0))


def test_a_one_point_spike_survives():
    rng = np.random.default_rng(0)
    x = np.arange(100_000.0)
    y = 1.0 + 0.01 * rng.standard_normal(x.size)
    y[73_421] = 50.0  # a loss spike
    y[12_345] = -20.0  # and a dip
    got_x, got_y = downsample_min_max(x, y, max_points=500)
    assert got_x.size <= 500
    assert 73_421.0 in got_x and got_y.max() == 50.0
    assert 12_345.0 in got_x and got_y.min() == -20.0


def test_the_first_and_last_points_are_kept_so_the_curve_spans_its_range():
    x = np.arange(10_001.0)
    y = np.full(x.size, 3.0)
    got_x, _ = downsample_min_max(x, y, max_points=100)
    assert got_x[0] == 0.0 and got_x[-1] == 10_000.0


def test_the_envelope_of_every_bucket_is_kept():
    rng = np.random.default_rng(1)
    y = rng.standard_normal(50_000)
    x = np.arange(y.size, dtype=float)
    _, got_y = downsample_min_max(x, y, max_points=1002)  # 500 buckets of 100
    for bucket in range(500):
        chunk = y[bucket * 100:(bucket + 1) * 100]
        assert chunk.max() in got_y and chunk.min() in got_y


def test_nan_gaps_do_not_hide_values_and_an_all_nan_stretch_stays_a_gap():
    y = np.linspace(0, 1, 10_000)
    y[100:200] = np.nan  # a short gap inside one bucket is skipped over
    y[5_000:8_000] = np.nan  # a long gap (whole buckets) stays a gap
    got_x, got_y = downsample_min_max(np.arange(10_000.0), y, max_points=100)
    assert np.isnan(got_y).any()
    finite = got_y[~np.isnan(got_y)]
    assert finite.max() == 1.0 and finite.min() == 0.0
    assert np.all(np.diff(got_x) > 0)


def test_unsorted_x_is_sorted_first():
    x = np.arange(5_000.0)[::-1].copy()
    got_x, got_y = downsample_min_max(x, x * 2, max_points=100)
    assert np.all(np.diff(got_x) > 0) and np.array_equal(got_y, got_x * 2)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="x has 3 points but y has 2"):
        downsample_min_max(np.arange(3.0), np.arange(2.0))
