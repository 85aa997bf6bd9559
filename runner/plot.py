"""PNG plots of metric series (matplotlib, no display needed)."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from runner.spec import Series

# Series whose values span more than this ratio get a log y axis.
LOG_SCALE_RATIO = 1e3
# matplotlib's text layout (its mathtext parser) is shared state and not thread-safe:
# a sweep or a rerun writes runs from several threads, so their plots take turns.
_DRAWING = threading.Lock()


def plot_series(metrics: Mapping[str, Series], out_dir: Path, title: str = "") -> list[Path]:
    """One PNG per series in `out_dir`; returns the paths written. Safe to call from
    several threads at once (they draw one after another)."""
    with _DRAWING:
        return _plot_series(metrics, out_dir, title)


def _plot_series(metrics: Mapping[str, Series], out_dir: Path, title: str) -> list[Path]:
    # The Figure API with an Agg canvas: no pyplot, so a notebook's backend and
    # its open figures are left alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, series in metrics.items():
        figure = Figure(figsize=(6, 3.6), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.subplots()
        ys = [v for v in series.y if v is not None]
        axes.plot(series.x, [float("nan") if v is None else v for v in series.y],
                  marker="o" if len(series.x) <= 30 else None, linewidth=1.4)
        positive = [v for v in ys if v > 0]
        if positive and len(positive) == len(ys) and max(ys) / min(positive) > LOG_SCALE_RATIO:
            axes.set_yscale("log")
        if series.axis != "step" and series.x and min(series.x) > 0 and max(series.x) / min(series.x) > 50:
            axes.set_xscale("log")
        axes.set_xlabel(series.axis)
        axes.set_ylabel(name)
        axes.set_title(f"{title}: {name}" if title else name, fontsize=10)
        axes.grid(alpha=0.3)
        figure.tight_layout()
        path = out_dir / f"{name}.png"
        figure.savefig(path)
        written.append(path)
    return written


def plot_run_dir(directory: Path, title: str = "") -> list[Path]:
    """Draw DIR/plots/*.png from DIR/metrics.json; the folder appears whole, never half drawn."""
    metrics = json.loads((directory / "metrics.json").read_text())
    series = {name: Series.model_validate(body) for name, body in metrics.items()}
    partial = directory / "plots.partial"
    shutil.rmtree(partial, ignore_errors=True)
    plot_series(series, partial, title=title)
    shutil.rmtree(directory / "plots", ignore_errors=True)
    partial.rename(directory / "plots")
    return sorted((directory / "plots").glob("*.png"))


if __name__ == "__main__":  # python -m runner.plot DIR [TITLE]: what `tycho run` starts
    plot_run_dir(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "")
