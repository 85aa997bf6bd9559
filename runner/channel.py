"""The parent's ends of a sandboxed run's pipes: metric points and the output tail.

The metrics channel takes only what `runner.recorder.StreamingRecorder` and the
child's bookkeeping write: bounded JSON lines, each checked by a parent-side
Recorder. Anything else is a malformed line, reported in words a person can act on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from runner.recorder import Recorder
from runner.spec import Environment

MIB = 1024 * 1024


class MetricsChannel:
    """The parent's end of the metrics pipe: bounded JSON lines, checked one by one.

    One run's lines carry no seed; a batch's lines each name the seed, one of
    `seeds`, that they belong to (`tagged`). `on_point(seed, point)` and
    `on_progress(seed, done, total)` see every accepted line as it arrives.
    """

    def __init__(self, max_bytes: int, seeds: list[int], *, tagged: bool = False,
                 on_point: Callable[[int, dict], None] | None = None,
                 on_progress: Callable[[int, float, float], None] | None = None) -> None:
        self.max_bytes, self.tagged = max_bytes, tagged
        self.on_point, self.on_progress = on_point, on_progress
        # One recorder per seed rebuilds its series, with the recorder's own checks.
        self.recorders = {seed: Recorder() for seed in seeds}
        self.received = 0
        self.pending = bytearray()
        self.sandbox: dict[str, Any] = {}  # the child's first message: what it achieved
        self.failure: str | None = None  # the child's account of a failed recipe
        self.environment: Environment | None = None  # from the final "done"
        self.recipe_seconds: float | None = None  # the recipe's own time, from "done"
        self.problem: str | None = None  # the channel itself was misused
        self.progress: dict[int, tuple[float, float]] = {}  # seed -> the latest (done, total)

    def feed(self, chunk: bytes) -> None:
        if self.problem:
            return
        self.received += len(chunk)
        if self.received > self.max_bytes:
            self.problem = (f"the recipe sent more than {self.max_bytes / MIB:g} MB of metrics, "
                            "the bound of the metrics channel; log less often or fewer series")
            return
        self.pending += chunk
        while not self.problem and (end := self.pending.find(b"\n")) >= 0:
            line = bytes(self.pending[:end])
            del self.pending[: end + 1]
            self._take(line)

    def close(self) -> None:
        if self.pending and not self.problem:
            self._malformed(bytes(self.pending), "it does not end with a newline")

    def _take(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            return self._malformed(line, "it is not JSON")
        if not isinstance(message, dict):
            return self._malformed(line, "it is not a JSON object")
        if self.environment is not None:
            return self._malformed(line, "it came after the run had finished")
        keys = set(message)
        if keys == {"sandbox"} and not self.sandbox and isinstance(message["sandbox"], dict):
            self.sandbox = message["sandbox"]
        elif keys == {"failed"} and isinstance(message["failed"], str):
            self.failure = self.failure or message["failed"]
        elif keys - {"recipe_s"} == {"done", "environment"}:
            try:
                self.environment = Environment.model_validate(message["environment"])
            except ValidationError:
                self._malformed(line, "its environment is not an environment fingerprint")
            seconds = message.get("recipe_s")
            if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
                self.recipe_seconds = round(float(seconds), 3)
        else:
            self._take_seeded(line, message)

    def _take_seeded(self, line: bytes, message: dict) -> None:
        """A metric point or a progress line of one seed."""
        if self.tagged:
            seed = message.pop("seed", None)
            if seed not in self.recorders or isinstance(seed, bool):
                return self._malformed(line, "it names no seed of this batch")
        else:
            seed = next(iter(self.recorders))
        keys = set(message)
        if keys == {"x", "axis", "values"} and isinstance(message["values"], dict):
            self._take_point(line, seed, message)
        elif keys == {"progress"} and isinstance(message["progress"], dict):
            self._take_progress(line, seed, message["progress"])
        else:
            self._malformed(line, "it is not a metric point")

    def _take_point(self, line: bytes, seed: int, point: dict) -> None:
        values = {name: math.nan if v is None else v for name, v in point["values"].items()}
        numbers = (isinstance(v, (int, float)) and not isinstance(v, bool) for v in values.values())
        if not all(numbers):
            return self._malformed(line, "its values are not numbers")
        try:
            self.recorders[seed](point["x"], axis=point["axis"], **values)
        except Exception as exc:  # noqa: BLE001 - whatever the recorder refuses is malformed
            return self._malformed(line, str(exc))
        if self.on_point is not None:
            self.on_point(seed, point)

    def _take_progress(self, line: bytes, seed: int, progress: dict) -> None:
        done, total = progress.get("done"), progress.get("total")
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                      for v in (done, total))
        if set(progress) != {"done", "total"} or not numbers or total <= 0:
            return self._malformed(line, "its progress is not two finite numbers, done and total")
        self.progress[seed] = (float(done), float(total))
        if self.on_progress is not None:
            self.on_progress(seed, *self.progress[seed])

    def _malformed(self, line: bytes, why: str) -> None:
        fd = self.sandbox.get("metrics_fd", "of the metrics channel")
        self.problem = (
            f"the metrics channel received a malformed line ({why}): "
            f"{line[:80].decode('utf-8', errors='replace')!r}. Only log() in the recipe's "
            f"own process may write to it; the recipe must not write to file descriptor {fd}."
        )


class LogTail:
    """The last `limit` bytes of the child's merged stdout and stderr."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.dropped = 0

    def append(self, chunk: bytes) -> None:
        self.kept += chunk
        if len(self.kept) > 2 * self.limit:  # trim in batches, not on every chunk
            excess = len(self.kept) - self.limit
            del self.kept[:excess]
            self.dropped += excess

    def text(self) -> str:
        excess = max(0, len(self.kept) - self.limit)
        tail = self.kept[excess:].decode("utf-8", errors="replace")
        dropped = self.dropped + excess
        return f"[... {dropped} earlier bytes of output not kept ...]\n{tail}" if dropped else tail
