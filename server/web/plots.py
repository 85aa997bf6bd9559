"""Plotly figures for an observation page: one plot per metric series (or per group of
series drawn together), every run overlaid.

The figures are plain plotly.js JSON built here (data + layout); the page's
small script only hands them to Plotly.newPlot. Each trace is downsampled on the
server (server.web.downsample) so that a 100,000-point series does not freeze
the browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from markupsafe import Markup
from sqlmodel import Session, select

from server.models import MetricSeries
from server.web.downsample import MAX_PLOT_POINTS, downsample_min_max

AUTHOR_COLOUR = "#1b3a6b"
ORIGINAL_SEED_COLOUR = "#d9730d"  # the worker's re-run of the author's own seed
FRESH_SEED_COLOURS = ["#2a9d8f", "#8e6bbf", "#c0504d", "#6a994e", "#b08d57", "#4f7cac"]
REPRODUCTION_COLOUR = "#7a7a7a"
# A colour per series where several share a plot (a group, a comparison).
SERIES_COLOURS = ["#1b3a6b", "#d9730d", "#2a9d8f", "#c0504d", "#8e6bbf", "#6a994e", "#b08d57",
                  "#4f7cac"]
PLOT_HEIGHT_PX = 260
LEGEND = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0,
          "font": {"size": 11}}


@dataclass
class RunStyle:
    """How one run is drawn, the same in every plot and in the legend above them."""

    run_id: int
    label: str
    colour: str
    width: float
    dash: str = "solid"
    opacity: float = 1.0


@dataclass
class Panel:
    """One plot: a series (or a group of series drawn together) of the author's run and
    the same series of the other runs; or a sweep's measure against its knob(s)."""

    id: str
    name: str  # the series, or its group's names joined by " · "
    axis: str
    n_points: int  # the longest trace, before downsampling
    shown_points: int  # the longest trace as drawn
    figure: dict[str, Any] = field(default_factory=dict)
    series: list[str] = field(default_factory=list)  # the series drawn in it
    # "series", "group", "sweep" (1-D, with its seeds' band), "grid" (a heatmap), or
    # "overlay" (the same series of several observations, on /compare)
    kind: str = "series"
    note: str = ""  # a sentence under the caption, e.g. how many seeds a band spans

    @property
    def downsampled(self) -> bool:
        return self.shown_points < self.n_points


def run_styles(*, runs: list[Any], original_seed: int) -> list[RunStyle]:
    """Styles for `runs` (objects with id, kind, seed): the author's drawn boldest."""
    styles, fresh = [], 0
    for run in runs:
        if run.kind == "author":
            styles.append(RunStyle(run.id, f"author · seed {run.seed}", AUTHOR_COLOUR, 2.6))
        elif run.kind == "verification" and run.seed == original_seed:
            styles.append(RunStyle(run.id, f"re-run · seed {run.seed} (original)",
                                   ORIGINAL_SEED_COLOUR, 1.6, dash="dash"))
        elif run.kind == "verification":
            colour = FRESH_SEED_COLOURS[fresh % len(FRESH_SEED_COLOURS)]
            fresh += 1
            styles.append(RunStyle(run.id, f"re-run · seed {run.seed}", colour, 1.2,
                                   opacity=0.85))
        else:
            styles.append(RunStyle(run.id, f"{run.kind} · seed {run.seed}",
                                   REPRODUCTION_COLOUR, 1.2, dash="dot", opacity=0.85))
    return styles


def load_run_series(*, session: Session, run_ids: list[int]) -> dict[int, dict[str, MetricSeries]]:
    """run id -> {name: series row}, for the given runs, in one query."""
    by_run: dict[int, dict[str, MetricSeries]] = {i: {} for i in run_ids}
    if run_ids:
        rows = session.exec(select(MetricSeries).where(MetricSeries.run_id.in_(run_ids))
                            .order_by(MetricSeries.id)).all()
        for row in rows:
            by_run[row.run_id][row.name] = row
    return by_run


def build_panels(
    *, session: Session, styles: list[RunStyle], groups: list[list[str]] | None = None,
    max_points: int = MAX_PLOT_POINTS,
) -> list[Panel]:
    """A panel per group of series drawn together (the author's run names them), then one
    per series not in a group, in the author's order (the first style is the author's)."""
    if not styles:
        return []
    by_run = load_run_series(session=session, run_ids=[s.run_id for s in styles])
    author = by_run[styles[0].run_id]
    panels = []
    grouped: set[str] = set()
    for group in groups or []:
        names = [name for name in group if name in author]
        if len(names) < 2:  # a group of one is drawn as that series alone
            continue
        grouped.update(names)
        panels.append(_group_panel(f"plot-g{len(panels)}", names, author, by_run, styles,
                                   max_points))
    for index, (name, author_series) in enumerate(author.items()):
        if name in grouped:
            continue
        panels.append(_series_panel(f"plot-{index}", name, author_series, by_run, styles,
                                    max_points))
    return panels


def series_traces(name: str, by_run: dict[int, dict[str, MetricSeries]],
                  styles: list[RunStyle], max_points: int, *, colour: str | None = None,
                  ) -> tuple[list[dict[str, Any]], int, int]:
    """The traces of series `name` of every run that has it, the author's (the first style)
    drawn last so it lies on top; and the longest series before and after downsampling.
    With `colour`, the series is drawn in it (the author's run bold, the others faint)."""
    traces, longest, shown = [], 0, 0
    for style in styles[1:] + styles[:1]:
        series = by_run.get(style.run_id, {}).get(name)
        if series is None:
            continue
        x, y = downsample_min_max(series.xs(), series.ys(), max_points)
        longest, shown = max(longest, series.n_points), max(shown, x.size)
        author = style is styles[0]
        drawn = series_style(style, colour, author=author) if colour else style
        traces.append(_trace(drawn, x, y, series=name, author=author, grouped=bool(colour)))
    return traces, longest, shown


def _series_panel(panel_id: str, name: str, author_series: MetricSeries,
                  by_run: dict[int, dict[str, MetricSeries]], styles: list[RunStyle],
                  max_points: int) -> Panel:
    """One series, every run overlaid in its run's style."""
    traces, longest, shown = series_traces(name, by_run, styles, max_points)
    return Panel(id=panel_id, name=name, axis=author_series.axis, n_points=longest,
                 shown_points=shown, series=[name],
                 figure={"data": traces, "layout": base_layout(name, author_series.axis)})


def _group_panel(panel_id: str, names: list[str], author: dict[str, MetricSeries],
                 by_run: dict[int, dict[str, MetricSeries]], styles: list[RunStyle],
                 max_points: int) -> Panel:
    """Several series in one plot: a colour per series, the author's run drawn boldest and
    named in the legend, the other runs faint in the same colour and dash as elsewhere."""
    traces, longest, shown = [], 0, 0
    for number, name in enumerate(names):
        drawn, most, kept = series_traces(name, by_run, styles, max_points,
                                          colour=SERIES_COLOURS[number % len(SERIES_COLOURS)])
        traces += drawn
        longest, shown = max(longest, most), max(shown, kept)
    axes = list(dict.fromkeys(author[name].axis for name in names))
    title = " · ".join(names)
    layout = base_layout(title if len(title) <= 40 else "value", " / ".join(axes))
    layout.update(showlegend=True, legend=LEGEND, margin={**layout["margin"], "t": 34})
    return Panel(id=panel_id, name=title, axis=" / ".join(axes), n_points=longest,
                 shown_points=shown, series=list(names), kind="group",
                 figure={"data": traces, "layout": layout})


def overlay_panels(
    *, session: Session, styles: list[RunStyle], names: list[str],
    max_points: int = MAX_PLOT_POINTS,
) -> list[Panel]:
    """A panel per series in `names`, overlaying that series of each run (a run per style,
    e.g. the author's runs of several observations, each in its colour and named in the
    legend). Grid series (a two-knob sweep's) have no curve and are left out."""
    by_run = load_run_series(session=session, run_ids=[s.run_id for s in styles])
    panels = []
    for index, name in enumerate(names):
        traces, longest, shown, axes = [], 0, 0, []
        for style in styles:
            series = by_run[style.run_id].get(name)
            if series is None or series.x2 is not None:
                continue
            x, y = downsample_min_max(series.xs(), series.ys(), max_points)
            longest, shown = max(longest, series.n_points), max(shown, x.size)
            axes.append(series.axis)
            trace = _trace(style, x, y, series=name, author=True)
            traces.append({**trace, "legendgroup": style.label,
                           "hovertemplate": f"{style.label}: %{{y:.5g}}<extra></extra>"})
        if len(traces) < 2:
            continue
        axis = " / ".join(dict.fromkeys(axes))
        layout = base_layout(name, axis)
        layout.update(showlegend=True, legend=LEGEND, margin={**layout["margin"], "t": 34})
        panels.append(Panel(id=f"plot-{index}", name=name, axis=axis, n_points=longest,
                            shown_points=shown, series=[name], kind="overlay",
                            figure={"data": traces, "layout": layout}))
    return panels


def series_style(style: RunStyle, colour: str, *, author: bool) -> RunStyle:
    """`style` in a series' colour: the author's run bold, the others faint."""
    return RunStyle(style.run_id, style.label, colour, 2.4 if author else 1.0, style.dash,
                    1.0 if author else 0.45)


def _trace(style: RunStyle, x, y, *, series: str, author: bool,
           grouped: bool = False) -> dict[str, Any]:
    return {
        "type": "scatter",  # SVG, not WebGL: crisp, printable, and few points after downsampling
        "mode": "lines",
        # In a group's legend the author's trace stands for its series; hover names the run.
        "name": f"{series} · {style.label}" if grouped else style.label,
        "legendgroup": series,
        "showlegend": author,
        # What the page's script needs to add this series to another panel.
        "meta": {"series": series, "author": author},
        "x": x,
        "y": y,
        "line": {"color": style.colour, "width": style.width, "dash": style.dash},
        "opacity": style.opacity,
        "hovertemplate": "%{y:.5g}",
    }


def base_layout(name: str, axis: str) -> dict[str, Any]:
    return {
        "height": PLOT_HEIGHT_PX,
        "margin": {"l": 58, "r": 14, "t": 10, "b": 42},
        "xaxis": {"title": {"text": axis}, "type": "linear", "zeroline": False},
        "yaxis": {"title": {"text": name}, "type": "linear", "zeroline": False,
                  "exponentformat": "power"},
        "showlegend": False,
        "hovermode": "x unified",
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#fbfbfd",
    }


def panels_json(panels: list[Panel]) -> Markup:
    """The figures as JSON that is safe inside <script type="application/json">."""
    payload = [{"id": p.id, "kind": p.kind, "data": p.figure["data"],
                "layout": p.figure["layout"]} for p in panels]
    # NaN (a gap in a series) becomes null, which plotly draws as a gap too.
    text = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    # No "</script>" or "<!--" can appear once every "<" is escaped.
    return Markup(text.replace("<", "\\u003c"))
