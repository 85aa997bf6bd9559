"""Plotly figures of a sweep observation (runner.spec.SweepSpec).

A 1-D sweep's measure is a curve against its knob, with a marker at each swept
value and, when there are several seeds, the band between `NAME_min` and
`NAME_max` (those two are not drawn as panels of their own). A 2-D sweep's grid
series is a heatmap, a phase diagram over the two knobs' values: hovering a cell
shows both knobs and its value(s), clicking it opens its run. Every marker and
cell carries its run's page in `customdata[0]` for the page's script.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from server.models import MetricSeries
from server.web.plots import PLOT_HEIGHT_PX, Panel, base_layout

BAND_SUFFIXES = ("_min", "_max")
CURVE_COLOUR = "#1b3a6b"
BAND_FILL = "rgba(27, 58, 107, 0.18)"
# Cells up to which a heatmap writes each cell's value in it.
MAX_LABELLED_CELLS = 144

# A cell's runs: cell key (the knobs' values, rounded) -> [(its seed as said, e.g. "3" or
# "7 (re-run)", page of the run)], the one a click opens first.
CellRuns = dict[tuple[float, ...], list[tuple[str, str]]]


def cell_key(values: Any) -> tuple[float, ...]:
    """The knobs' values of a cell as a key that float noise does not split."""
    return tuple(round(float(v), 12) for v in values)


def is_band(name: str, names: Any) -> bool:
    """Whether `name` is the lower or upper edge of another series' band over seeds."""
    return name.endswith(BAND_SUFFIXES) and name[:-4] in names


def sweep_panels(*, series: dict[str, MetricSeries], cells: CellRuns, seeds: int) -> list[Panel]:
    """A panel per measure of the author's run (`series`): a curve with its seeds' band for
    a 1-D sweep, a heatmap for a grid series; `cells` links each point to its runs."""
    panels = []
    for index, (name, row) in enumerate(series.items()):
        if is_band(name, series):
            continue
        low, high = series.get(f"{name}_min"), series.get(f"{name}_max")
        if row.x2 is not None:
            panels.append(_heatmap(f"plot-{index}", name, row, low, high, cells, seeds))
        else:
            panels.append(_curve(f"plot-{index}", name, row, low, high, cells, seeds))
    return panels


def _seeds_text(runs: list[tuple[str, str]]) -> str:
    return ", ".join(seed for seed, _ in runs[:16]) + (" …" if len(runs) > 16 else "")


def _edge(row: MetricSeries | None, size: int) -> np.ndarray:
    """A band edge's values point by point (NaN where there is none)."""
    if row is None or row.n_points != size:
        return np.full(size, np.nan)
    return row.ys()


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _curve(panel_id: str, name: str, row: MetricSeries, low_row: MetricSeries | None,
           high_row: MetricSeries | None, cells: CellRuns, seeds: int) -> Panel:
    x, y = row.xs(), row.ys()
    low, high = _edge(low_row, x.size), _edge(high_row, x.size)
    band = low_row is not None and high_row is not None
    customdata = []
    for i, value in enumerate(x):
        runs = cells.get(cell_key([value]), [])
        customdata.append([runs[0][1] if runs else "", _seeds_text(runs),
                           _number(low[i]), _number(high[i])])
    traces: list[dict[str, Any]] = []
    if band:
        # The upper edge, then the lower one filled up to it: the band between them.
        traces.append({"type": "scatter", "mode": "lines", "x": x, "y": high,
                       "line": {"width": 0, "color": BAND_FILL}, "hoverinfo": "skip",
                       "showlegend": False, "legendgroup": "band", "name": f"{name}_max"})
        traces.append({"type": "scatter", "mode": "lines", "x": x, "y": low,
                       "fill": "tonexty", "fillcolor": BAND_FILL,
                       "line": {"width": 0, "color": BAND_FILL}, "hoverinfo": "skip",
                       "legendgroup": "band", "name": f"min–max over {seeds} seeds"})
    hover = f"{row.axis} = %{{x:,.4~r}}<br>{name} = %{{y:,.4~r}}"
    if band:
        hover += f" (mean of {seeds} seeds)<br>min %{{customdata[2]:,.4~r}}, max %{{customdata[3]:,.4~r}}"
    hover += "<br>seeds: %{customdata[1]}<extra></extra>"
    traces.append({
        "type": "scatter", "mode": "lines+markers", "x": x, "y": y,
        "name": f"mean over {seeds} seeds" if band else name,
        "line": {"color": CURVE_COLOUR, "width": 2.4},
        "marker": {"color": CURVE_COLOUR, "size": 8, "line": {"color": "#fff", "width": 1}},
        "customdata": customdata, "hovertemplate": hover,
        "meta": {"series": name, "author": True},
    })
    layout = base_layout(name, row.axis)
    # 10,000 rather than 1×10⁴: a measure is read off its axis.
    layout["yaxis"].update(exponentformat="none", separatethousands=True, automargin=True)
    layout.update(hovermode="closest", showlegend=band,
                  legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0,
                          "font": {"size": 11}},
                  margin={**layout["margin"], "t": 34 if band else 10})
    note = (f"Mean over {seeds} seeds at each swept value; the band spans their minimum to "
            f"maximum. Click a marker to open its run." if band
            else "One value per swept value. Click a marker to open its run.")
    return Panel(id=panel_id, name=name, axis=row.axis, n_points=row.n_points,
                 shown_points=row.n_points, series=[name], kind="sweep", note=note,
                 figure={"data": traces, "layout": layout})


def _label(value: float) -> str:
    return f"{value:g}"


def _heatmap(panel_id: str, name: str, row: MetricSeries, low_row: MetricSeries | None,
             high_row: MetricSeries | None, cells: CellRuns, seeds: int) -> Panel:
    x, x2, z = row.xs(), row.x2s(), row.ys()
    low, high = _edge(low_row, x.size), _edge(high_row, x.size)
    columns, rows = sorted(set(x.tolist())), sorted(set(x2.tolist()))
    column_of = {v: i for i, v in enumerate(columns)}
    row_of = {v: j for j, v in enumerate(rows)}
    grid: list[list[float | None]] = [[None] * len(columns) for _ in rows]
    customdata: list[list[list[Any]]] = [[["", "", None, None] for _ in columns] for _ in rows]
    for i in range(x.size):
        j, k = row_of[x2[i]], column_of[x[i]]
        runs = cells.get(cell_key([x[i], x2[i]]), [])
        grid[j][k] = _number(z[i])
        customdata[j][k] = [runs[0][1] if runs else "", _seeds_text(runs), _number(low[i]),
                            _number(high[i])]
    band = low_row is not None and high_row is not None
    hover = f"{row.axis} = %{{x}}<br>{row.axis2} = %{{y}}<br>{name} = %{{z:,.4~r}}"
    if band:
        hover += f" (mean of {seeds} seeds)<br>min %{{customdata[2]:,.4~r}}, max %{{customdata[3]:,.4~r}}"
    hover += "<br>seeds: %{customdata[1]}<extra></extra>"
    trace: dict[str, Any] = {
        "type": "heatmap", "x": [_label(v) for v in columns], "y": [_label(v) for v in rows],
        "z": grid, "customdata": customdata, "hovertemplate": hover, "colorscale": "Viridis",
        "colorbar": {"title": {"text": name, "side": "right"}, "thickness": 12},
        "hoverongaps": False, "xgap": 1, "ygap": 1,
        "meta": {"series": name, "author": True},
    }
    if len(columns) * len(rows) <= MAX_LABELLED_CELLS:
        finite = [abs(v) for line in grid for v in line if v is not None]
        # 10k and 4.51k rather than 1.00e+4; 0.95 rather than 950m.
        format_ = "~s" if finite and max(finite) >= 1e4 else "~g"
        trace.update(texttemplate=f"%{{z:.3{format_}}}", textfont={"size": 10})
    layout = base_layout(name, row.axis)
    layout.update(hovermode="closest",
                  height=max(PLOT_HEIGHT_PX, min(520, 60 + 34 * len(rows))),
                  xaxis={"title": {"text": row.axis}, "type": "category"},
                  yaxis={"title": {"text": row.axis2}, "type": "category"})
    return Panel(id=panel_id, name=name, axis=f"{row.axis} × {row.axis2}",
                 n_points=row.n_points, shown_points=row.n_points, series=[name], kind="grid",
                 note=f"A phase diagram over {len(columns)} × {len(rows)} cells"
                      + (f", each the mean over {seeds} seeds" if band else "")
                      + ". Hover a cell for its values; click it to open its run.",
                 figure={"data": [trace], "layout": layout})
