"""Min/max bucket downsampling: a long series drawn with a few thousand points, spikes kept.

A plot cannot show more points than it has pixel columns, and plotly draws a
grid of 100,000-point SVG traces slowly enough to freeze a page. Random or
every-k-th sampling would hide exactly what a researcher looks for (a loss
spike, a sharpness excursion), so each bucket of consecutive points keeps its
smallest and its largest value: the drawn envelope is the true one.
"""

from __future__ import annotations

import numpy as np

# Points a trace keeps on a page: two per pixel column of a ~1,000 px wide plot,
# so the drawing looks the same as the full series, and few enough that a grid of
# plots with five runs each stays responsive (measured: ~40k SVG points in all).
MAX_PLOT_POINTS = 2000


def downsample_min_max(
    x: np.ndarray, y: np.ndarray, max_points: int = MAX_PLOT_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points of (x, y), in x order: the first and last point, and
    the minimum and maximum of each bucket of consecutive points. Short series come
    back unchanged. NaN (a gap) is kept only where a whole bucket is NaN."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"x has {x.size} points but y has {y.size}")
    n = x.size
    if n <= max_points:
        return x, y
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, not {max_points}")
    if np.any(np.diff(x) < 0):  # series are stored in x order; be safe with others
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
    # Two points per bucket, and room for the first and the last point.
    buckets = (max_points - 2) // 2
    size = -(-n // buckets)  # ceil: every bucket but the last is full
    rows = -(-n // size)
    padded = rows * size
    low = np.full(padded, np.inf)
    high = np.full(padded, -np.inf)
    finite = ~np.isnan(y)
    low[:n] = np.where(finite, y, np.inf)
    high[:n] = np.where(finite, y, -np.inf)
    starts = np.arange(rows) * size
    lowest = starts + low.reshape(rows, size).argmin(axis=1)
    highest = starts + high.reshape(rows, size).argmax(axis=1)
    # An all-NaN bucket points at padding or at a NaN; clamp into the series.
    keep = np.unique(np.concatenate(([0, n - 1], lowest, highest)).clip(0, n - 1))
    return x[keep], y[keep]
