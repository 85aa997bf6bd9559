"""Observations in a notebook: the API record as a mapping, with its curves as numpy arrays,
a pandas DataFrame, a matplotlib figure, and an HTML view that Jupyter shows by itself.

    obs = tycho.Client().get_observation("T-1")
    obs["verdict"]                 # the record, as the API gives it
    obs.metrics["test_acc"].y      # numpy arrays: Curve(x, y, axis)
    obs.to_pandas(runs=True)       # one row per point: run, kind, seed, series, axis, x, y
    obs.plot()                     # a matplotlib Figure, one panel per series
    obs                            # in Jupyter: verdict, claims and a small plot

pandas and matplotlib are imported only when asked for; pandas is optional.
"""

from __future__ import annotations

import base64
import functools
import html
import io
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

# Series drawn in the small plot of an observation's HTML view.
PREVIEW_SERIES = 3


class Curve(NamedTuple):
    """One metric series as arrays (NaN where the value was not a finite number)."""

    x: np.ndarray
    y: np.ndarray
    axis: str


def curve(series: Any) -> Curve:
    """A Curve from a runner.spec.Series or its JSON ({"x", "y", "axis"})."""
    get = series.get if isinstance(series, Mapping) else lambda name: getattr(series, name)
    x = np.asarray(get("x"), dtype=np.float64)
    y = np.array([np.nan if v is None else v for v in get("y")], dtype=np.float64)
    return Curve(x=x, y=y, axis=get("axis") or "step")


def curves(metrics: Mapping[str, Any]) -> dict[str, Curve]:
    return {name: curve(series) for name, series in metrics.items()}


def frame(runs: Iterable[tuple[str, int, Mapping[str, Any]]]):
    """A long pandas DataFrame of (kind, seed, metrics) runs: one row per point."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("to_pandas() needs pandas: pip install pandas (or use .metrics, "
                          "which gives numpy arrays)") from None
    parts = []
    for i, (kind, seed, metrics) in enumerate(runs):
        for name, series in curves(metrics).items():
            parts.append(pd.DataFrame({"run": i, "kind": kind, "seed": seed, "series": name,
                                       "axis": series.axis, "x": series.x, "y": series.y}))
    columns = ["run", "kind", "seed", "series", "axis", "x", "y"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def figure(groups: Mapping[str, Mapping[str, Any]], *, series: list[str] | None = None,
           title: str = "", size: float = 3.0):
    """A matplotlib Figure with a panel per series and a line per group (a run).

    Made with the Figure API, not pyplot: Jupyter shows the returned figure once
    (it has a PNG view), and a notebook's own figures and backend are left alone.
    """
    from runner.plot import LOG_SCALE_RATIO

    Figure = _notebook_figure()

    drawn = {label: curves(metrics) for label, metrics in groups.items()}
    names = series or list(dict.fromkeys(n for cs in drawn.values() for n in cs))
    columns = min(3, max(1, len(names)))
    rows = -(-len(names) // columns) or 1
    fig = Figure(figsize=(size * 1.4 * columns, size * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax, name in zip(axes, names):
        for label, cs in drawn.items():
            if name in cs:
                ax.plot(cs[name].x, cs[name].y, label=label, linewidth=1.2)
        ys = np.concatenate([cs[name].y for cs in drawn.values() if name in cs] or [np.ones(1)])
        ys = ys[np.isfinite(ys)]
        if ys.size and ys.min() > 0 and ys.max() / ys.min() > LOG_SCALE_RATIO:
            ax.set_yscale("log")
        first = next((cs[name] for cs in drawn.values() if name in cs), None)
        ax.set_xlabel(first.axis if first else "")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        if len(drawn) > 1:
            ax.legend(fontsize=7)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


@functools.cache
def _notebook_figure() -> type:
    from matplotlib.figure import Figure

    class NotebookFigure(Figure):
        """A Figure that Jupyter (IPython) shows as a PNG when a cell returns it."""

        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=90)
            return buffer.getvalue()

    return NotebookFigure


def png_data_url(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


VERDICT_COLOURS = {"robust": "#1a7f37", "reproduced": "#2da44e", "fragile": "#bf8700",
                   "not-reproduced": "#cf222e", "error": "#cf222e"}


def _claims_html(claims: list[str], rates: Mapping[str, float],
                 results: Mapping[str, Any]) -> str:
    rows = []
    for claim in claims:
        rate = rates.get(claim)
        result = results.get(claim)
        held = "" if result is None else ("✓" if result["holds"] else "✗")
        rows.append(f"<tr><td><code>{html.escape(claim)}</code></td><td>{held}</td>"
                    f"<td>{'' if rate is None else f'{100 * rate:.0f}%'}</td></tr>")
    if not rows:
        return "<p><i>No claims.</i></p>"
    return ("<table><thead><tr><th>claim</th><th>author's run</th><th>fresh seeds</th></tr>"
            "</thead><tbody>" + "".join(rows) + "</tbody></table>")


class Observation(dict):
    """An observation record (GET /api/v1/observations/{ref}) that a notebook can use.

    It is the record itself, a dict: `obs["verdict"]`, `json.dumps(obs)`. Beside
    it: `.metrics` (the author's series as numpy arrays), `.runs()` (every run's,
    the verification's included), `.to_pandas()`, `.plot()`, and an HTML view.
    """

    def __init__(self, record: Mapping[str, Any], client: Any = None) -> None:
        super().__init__(record)
        self._client = client
        self._metrics: dict[str, Curve] | None = None
        self._runs: list[dict] | None = None

    def __repr__(self) -> str:
        return f"<Observation {self.get('ref')}: {self.get('title')!r}, {self.get('verdict')}>"

    @property
    def ref(self) -> str:
        return self["ref"]

    @property
    def verdict(self) -> str:
        return self["verdict"]

    @property
    def url(self) -> str:
        return self.get("url", "")

    def _need_client(self) -> Any:
        if self._client is None:
            from runner.client import Client

            self._client = Client()
        return self._client

    @property
    def metrics(self) -> dict[str, Curve]:
        """The author's series: {name: Curve(x, y, axis)} as numpy arrays."""
        if self._metrics is None:
            self._metrics = curves(self._need_client().metrics(self.ref))
        return self._metrics

    def runs(self) -> list[dict]:
        """Every run of this version with its series: [{id, kind, seed, status, metrics}]."""
        if self._runs is None:
            self._runs = self._need_client().metrics(self.ref, runs=True)["runs"]
        return self._runs

    def to_pandas(self, runs: bool = False):
        """The curves as a long DataFrame (run, kind, seed, series, axis, x, y): the author's
        run, or with `runs` every run. Needs pandas."""
        if runs:
            return frame((r["kind"], r["seed"], r["metrics"]) for r in self.runs())
        return frame([("author", self["seed"], {n: c._asdict() for n, c in self.metrics.items()})])

    def plot(self, series: list[str] | None = None, runs: bool = False):
        """A matplotlib Figure: a panel per series; with `runs`, a line per run."""
        if runs:
            groups = {f"{r['kind']} seed {r['seed']}": r["metrics"] for r in self.runs()}
        else:
            groups = {"author": {n: c._asdict() for n, c in self.metrics.items()}}
        return figure(groups, series=series, title=f"{self.ref}: {self.get('title', '')}")

    def _repr_html_(self) -> str:
        verdict = self.get("verdict", "")
        colour = VERDICT_COLOURS.get(verdict, "#6e7781")
        author_run = next((r for r in self.get("runs", []) if r.get("kind") == "author"), {})
        results = {c["claim"]: c for c in author_run.get("claims", [])}
        try:
            names = list(self.metrics)[:PREVIEW_SERIES]
            plot = (f'<img alt="curves" src="{png_data_url(self.plot(series=names))}">'
                    if names else "")
        except Exception as exc:  # noqa: BLE001 - a view must show what it can
            plot = f"<p><i>(no plot: {html.escape(str(exc))})</i></p>"
        reason = self.get("verdict_reason") or ""
        return (
            f'<div class="tycho-observation"><p><a href="{html.escape(self.url)}"><b>'
            f'{html.escape(self.ref)}</b></a> {html.escape(self.get("title", ""))} '
            f'<span style="background:{colour};color:white;padding:1px 6px;border-radius:8px">'
            f'{html.escape(verdict)}</span> <small>{html.escape(reason)}</small></p>'
            + _claims_html(self.get("claims", []), self.get("pass_rates", {}), results)
            + plot + "</div>")


def run_html(local: Any) -> str:
    """The HTML view of a local run (`tycho.run`): status, claims and a small plot."""
    result = local.result
    status = result.status.value
    results = {c.claim: c.model_dump() for c in result.claims}
    names = list(result.metrics)[:PREVIEW_SERIES]
    plot = f'<img alt="curves" src="{png_data_url(local.plot(series=names))}">' if names else ""
    note = " (quick: claims not judged)" if local.quick and not local.quick_judged else ""
    return (f'<div class="tycho-run"><p><b>{html.escape(local.name)}</b>, seed '
            f'{local.spec.seed}: {html.escape(status)}{note}, {result.wall_time_s or 0:.1f} s'
            + (f" — {html.escape(result.error)}" if result.error else "") + "</p>"
            + _claims_html(local.spec.claims, {}, results) + plot + "</div>")
