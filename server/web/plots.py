"""Plotly figures for an observation page: one plot per metric series, every run overlaid.

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
PLOT_HEIGHT_PX = 260


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
    """One plot: a series of the author's run and the same series of the other runs."""

    id: str
    name: str
    axis: str
    n_points: int  # the longest trace, before downsampling
    shown_points: int  # the longest trace as drawn
    figure: dict[str, Any] = field(default_factory=dict)

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


def build_panels(
    *, session: Session, styles: list[RunStyle], max_points: int = MAX_PLOT_POINTS
) -> list[Panel]:
    """One panel per series of the author's run (the first style), in the author's order."""
    if not styles:
        return []
    rows = session.exec(
        select(MetricSeries)
        .where(MetricSeries.run_id.in_([s.run_id for s in styles]))
        .order_by(MetricSeries.id)
    ).all()
    by_run: dict[int, dict[str, MetricSeries]] = {}
    for row in rows:
        by_run.setdefault(row.run_id, {})[row.name] = row
    author = by_run.get(styles[0].run_id, {})
    # Draw the other runs first, so the author's curve lies on top of them.
    drawing_order = styles[1:] + styles[:1]
    panels = []
    for index, (name, author_series) in enumerate(author.items()):
        traces, longest, shown = [], 0, 0
        for style in drawing_order:
            series = by_run.get(style.run_id, {}).get(name)
            if series is None:
                continue
            x, y = downsample_min_max(series.xs(), series.ys(), max_points)
            longest, shown = max(longest, series.n_points), max(shown, x.size)
            traces.append(_trace(style, x, y))
        panels.append(Panel(id=f"plot-{index}", name=name, axis=author_series.axis,
                            n_points=longest, shown_points=shown,
                            figure={"data": traces, "layout": _layout(name, author_series.axis)}))
    return panels


def _trace(style: RunStyle, x, y) -> dict[str, Any]:
    return {
        "type": "scatter",  # SVG, not WebGL: crisp, printable, and few points after downsampling
        "mode": "lines",
        "name": style.label,
        "x": x,
        "y": y,
        "line": {"color": style.colour, "width": style.width, "dash": style.dash},
        "opacity": style.opacity,
        "hovertemplate": "%{y:.5g}",
    }


def _layout(name: str, axis: str) -> dict[str, Any]:
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
    payload = [{"id": p.id, "data": p.figure["data"], "layout": p.figure["layout"]}
               for p in panels]
    # NaN (a gap in a series) becomes null, which plotly draws as a gap too.
    text = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    # No "</script>" or "<!--" can appear once every "<" is escaped.
    return Markup(text.replace("<", "\\u003c"))
