"""How `tycho run` and `tycho rerun` show a run while it goes on.

One line per seed: its state, step/total and the time left (from
`runner.progress.ProgressTracker`). Where the output is a terminal, each seed
is a rich progress bar, redrawn a few times a second; elsewhere (a pipe, a CI
log) a plain line every PLAIN_SECONDS says where every seed is. The recipe's
own output (`tycho run`) goes to stdout as it comes, above the bars.
"""

from __future__ import annotations

import codecs
import sys
import threading
import time
from typing import Any

from rich.console import Console

from runner.progress import ProgressTracker
from runner.spec import SeedProgress, SeedState

# How often a plain (not a terminal) display prints where the seeds are.
PLAIN_SECONDS = 5.0
# How often bars are redrawn from the tracker.
REDRAW_SECONDS = 0.2


def duration(seconds: float | None) -> str:
    """75 -> '1m15s', 3720 -> '1h02m', None -> '?'."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class SeedsDisplay:
    """A live view of `tracker`'s seeds on `console` (bars on a terminal, lines elsewhere)."""

    def __init__(self, tracker: ProgressTracker, console: Console, *, label: str = "",
                 plain_seconds: float = PLAIN_SECONDS) -> None:
        self.tracker, self.console, self.label = tracker, console, label
        self.plain_seconds = plain_seconds
        self.live = console.is_terminal
        self.steps: dict[int, float] = {}  # seed -> the latest step, for seeds without a total
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._progress: Any = None
        self._tasks: dict[int, Any] = {}

    # --- fed by the run ---

    def point(self, seed: int, point: dict) -> None:
        if point.get("axis", "step") == "step":
            self.steps[seed] = float(point.get("x", 0))
        self.tracker.point(seed, point)

    def output(self, chunk: bytes) -> None:
        """The recipe's output, shown as it comes (above the bars on a terminal)."""
        text = self._decoder.decode(chunk)
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()

    # --- drawing ---

    def __enter__(self) -> "SeedsDisplay":
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(),
                TextColumn("{task.fields[count]}"), TextColumn("{task.fields[left]}"),
                console=self.console, transient=True, redirect_stdout=True)
            self._progress.__enter__()
        self._thread = threading.Thread(target=self._loop, name="tycho-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        tail = self._decoder.decode(b"", final=True)
        if tail:
            sys.stdout.write(tail)
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def _loop(self) -> None:
        every = REDRAW_SECONDS if self.live else self.plain_seconds
        while not self._stop.wait(every):
            try:
                self.draw()
            except Exception:  # noqa: BLE001 - a drawing fault must not end the run
                pass

    def draw(self) -> None:
        snapshot = self.tracker.snapshot()
        seeds = snapshot.seeds
        if not self.live:
            elapsed = duration(time.monotonic() - self.started)
            parts = " · ".join(self._describe(entry, plain=True) for entry in seeds)
            total = (f" · all done in about {duration(snapshot.eta_s)}"
                     if snapshot.eta_s and len(seeds) > 1 else "")
            self.console.print(f"[{elapsed}] {self.label}{': ' if self.label else ''}{parts}"
                               f"{total}", markup=False, highlight=False, soft_wrap=True)
            return
        for entry in seeds:
            task = self._tasks.get(entry.seed)
            if task is None:
                task = self._tasks[entry.seed] = self._progress.add_task(
                    f"{self.label} seed {entry.seed}".strip(), total=None, count="", left="")
            total = entry.total if entry.total else None
            self._progress.update(task, completed=entry.done or 0, total=total,
                                  count=self._count(entry), left=self._left(entry))

    def _count(self, entry: SeedProgress) -> str:
        if entry.total:
            return f"{entry.done or 0:g}/{entry.total:g}"
        if entry.seed in self.steps:
            return f"step {self.steps[entry.seed]:g}"
        return ""

    @staticmethod
    def _left(entry: SeedProgress) -> str:
        if entry.state is SeedState.running:
            return f"{duration(entry.eta_s)} left" if entry.eta_s is not None else "running"
        return {SeedState.queued: "queued", SeedState.done: "done",
                SeedState.failed: "failed"}[entry.state]

    def _describe(self, entry: SeedProgress, *, plain: bool) -> str:
        count = self._count(entry)
        if entry.total and entry.state is SeedState.running:
            count += f" ({100 * (entry.done or 0) / entry.total:.0f}%)"
        return " ".join(part for part in (f"seed {entry.seed}", count, self._left(entry)) if part)
