"""`tycho.run`: a recipe run in the sandbox from Python, as `tycho run` runs it."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.local import LocalRun, run_target
from runner.spec import SourceRecipe


def run(target: str | Callable[..., Any], *, config: dict[str, Any] | None = None,
        seed: int = 0, claims: list[str] | None = None, quick: bool = False,
        threads: int = 1, out: str | Path | None = None) -> LocalRun:
    """Run a built-in (`"grokking"`), a recipe file (`"my_toy.py:run"`) or a function
    `run(config, log)` once in the sandbox, and check its claims (a built-in's own, and
    `claims`). A function must be self-contained (its imports inside it): its source is
    what runs, in another process. With `out`, the run is kept there as a run directory
    (`tycho post` reads it); `LocalRun.save()` keeps it later.
    """
    source_name = None
    if callable(target):
        source_name = f"{target.__name__}.py"
        target = SourceRecipe(source=textwrap.dedent(inspect.getsource(target)),
                              entrypoint=target.__name__)
    local = run_target(target, config=config, seed=seed, claims=claims, quick=quick,
                       threads=threads, source_name=source_name)
    if source_name:
        local.name = source_name[:-3]
    if out is not None:
        local.save(out)
    return local
