"""The recording interface a recipe receives: `log(step, train_loss=..., test_acc=...)`.

A recipe is `run(config, log)`. It reports every metric through `log` and does
no I/O of its own. The same object works in a notebook (values kept in memory)
and in the sandbox (each call also streams one JSON line to the parent process).

    log(step, train_loss=0.3, test_acc=0.51)          # against the step axis
    log(64, axis="width", test_loss=0.02)              # a sweep: against width
    log(i, axis="feature", feature_norm=0.97)          # a probe per feature
    log.progress(step, total_steps)                    # how far the run is (not a metric)

A series is bound to the axis of its first point; its index must be strictly
increasing. Values are converted with `float()` (Python numbers, numpy
scalars, one-element tensors); a value that is not finite is kept as NaN and
travels as `null`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

from runner.spec import AXIS_NAME, SERIES_NAME, Series

# Bounds that keep one runaway recipe from filling memory or the pipe.
MAX_SERIES = 256
MAX_POINTS_PER_SERIES = 1_000_000
# A progress report reaches the sink at most this often (seconds), and always
# when the work is done: a training loop may call `log.progress` every step.
PROGRESS_INTERVAL_SECONDS = 0.25


class RecordingError(ValueError):
    """A recipe logged something that cannot be a metric point."""


class Log(Protocol):
    """What a phenomenon's `run(config, log)` may call."""

    def __call__(self, index: float, /, *, axis: str = "step", **values: float) -> None: ...

    def progress(self, done: float, total: float) -> None: ...


class Recorder:
    """Collects metric series in memory; optionally forwards each point to `sink`."""

    def __init__(self, sink: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._sink = sink
        self._axis: dict[str, str] = {}
        self._x: dict[str, list[float]] = {}
        self._y: dict[str, list[float]] = {}
        # The latest `progress(done, total)`, and when it last reached the sink.
        self.latest_progress: tuple[float, float] | None = None
        self._progress_sent = -math.inf

    def __call__(self, index: float, /, *, axis: str = "step", **values: Any) -> None:
        x = _as_float(index, "the index")
        if not math.isfinite(x):
            raise RecordingError(f"the index must be finite, got {index!r}")
        if not AXIS_NAME.match(axis):
            raise RecordingError(f"axis {axis!r} must be a word like 'step' or 'width'")
        if not values:
            raise RecordingError("log() needs at least one metric, e.g. log(step, loss=0.5)")
        point: dict[str, float | None] = {}
        for name, raw in values.items():
            y = _as_float(raw, f"metric {name!r}")
            self._append(name, axis, x, y)
            point[name] = y if math.isfinite(y) else None
        if self._sink is not None:
            self._sink({"x": x, "axis": axis, "values": point})

    log = __call__

    def progress(self, done: float, total: float) -> None:
        """How far the run is: `done` of `total` units of its own work (steps, epochs,
        models of a sweep). Not a metric: nothing of it is kept with the run's series;
        progress bars and the verification page show it. Call it as often as you like."""
        done_f, total_f = _as_float(done, "progress done"), _as_float(total, "progress total")
        if not (math.isfinite(done_f) and math.isfinite(total_f) and total_f > 0):
            raise RecordingError(
                f"progress({done!r}, {total!r}) needs finite numbers and a total above 0"
            )
        self.latest_progress = (done_f, total_f)
        now = time.monotonic()
        due = done_f >= total_f or now - self._progress_sent >= PROGRESS_INTERVAL_SECONDS
        if self._sink is not None and due:
            self._progress_sent = now
            self._sink({"progress": {"done": done_f, "total": total_f}})

    def _append(self, name: str, axis: str, x: float, y: float) -> None:
        if name not in self._axis:
            if not SERIES_NAME.match(name):
                raise RecordingError(
                    f"metric name {name!r} must be a word of letters, digits and "
                    "underscores so that claims can name it"
                )
            if len(self._axis) >= MAX_SERIES:
                raise RecordingError(f"more than {MAX_SERIES} series; log fewer metrics")
            self._axis[name] = axis
            self._x[name] = []
            self._y[name] = []
        elif self._axis[name] != axis:
            raise RecordingError(
                f"metric {name!r} was logged against axis {self._axis[name]!r}, "
                f"now against {axis!r}; use a different name per axis"
            )
        xs = self._x[name]
        if xs and x <= xs[-1]:
            raise RecordingError(
                f"metric {name!r}: index {x!r} is not after the previous {xs[-1]!r}; "
                "log each series in increasing order of its index"
            )
        if len(xs) >= MAX_POINTS_PER_SERIES:
            raise RecordingError(
                f"metric {name!r} has more than {MAX_POINTS_PER_SERIES} points; log less often"
            )
        xs.append(x)
        self._y[name].append(y)

    def series(self) -> dict[str, Series]:
        """Everything logged so far, as wire-format series."""
        return {
            name: Series.model_construct(
                x=list(self._x[name]),
                y=[v if math.isfinite(v) else None for v in self._y[name]],
                axis=self._axis[name],
            )
            for name in self._axis
        }


class StreamingRecorder(Recorder):
    """A recorder that writes one JSON line per `log` call to a text stream.

    In a batch of seeds trained together, each seed's recorder tags its lines
    with `"seed"`, so that the reader can tell the runs apart.
    """

    def __init__(self, stream: Any, seed: int | None = None) -> None:
        tag = {} if seed is None else {"seed": seed}

        def write(point: dict[str, Any]) -> None:
            stream.write(json.dumps({**tag, **point}, allow_nan=False) + "\n")
            stream.flush()

        super().__init__(sink=write)


def _as_float(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise RecordingError(f"{what} is a bool; log a number (e.g. float(flag))")
    try:
        if hasattr(value, "item") and callable(value.item):
            value = value.item()  # numpy scalar or one-element tensor
        return float(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise RecordingError(f"{what} must be a number, got {type(value).__name__}") from exc
