"""Local runs: resolve a target, run it in the sandbox, write the run directory.

A run directory (what `tycho run` writes and `tycho post` reads):
    spec.json     recipe, config, seed, claims, environment
    metrics.json  {name: {x, y, axis}}
    run.json      status, timings, peak memory, claim results, error, log tail
    plots/*.png   one plot per series
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import phenomena
from runner.compare import evaluate_run
from runner.execute import Limits, run_recipe
from runner.plot import plot_series
from runner.spec import BuiltinRecipe, ObservationSpec, RunResult, Series, SourceRecipe


class TargetError(ValueError):
    """A `tycho run` target that is neither a built-in nor a readable recipe file."""


def resolve_target(target: str) -> BuiltinRecipe | SourceRecipe:
    """`grokking` -> built-in; `my_toy.py` or `my_toy.py:train` -> submitted source."""
    if target in phenomena.BUILTINS:
        return BuiltinRecipe(builtin=target)
    path_text, _, entrypoint = target.partition(":")
    path = Path(path_text)
    if path.suffix == ".py" or path.exists():
        if not path.is_file():
            raise TargetError(f"no recipe file {path_text!r}")
        return SourceRecipe(source=path.read_text(encoding="utf-8"), entrypoint=entrypoint or "run")
    raise TargetError(
        f"{target!r} is neither a built-in phenomenon ({', '.join(phenomena.BUILTINS)}) "
        "nor a Python file (my_toy.py or my_toy.py:run)"
    )


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`["lr=0.01", "widths=[8,16]"]` -> {"lr": 0.01, "widths": [8, 16]} (JSON, else text)."""
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set takes key=value, got {pair!r}")
        try:
            config[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            config[key.strip()] = raw
    return config


def default_claims(recipe: BuiltinRecipe | SourceRecipe) -> list[str]:
    if isinstance(recipe, BuiltinRecipe):
        return phenomena.get(recipe.builtin).claims
    return []


def check_config(recipe: BuiltinRecipe | SourceRecipe, config: dict[str, Any], seed: int) -> None:
    """Fail early, before a sandbox starts, on a config a built-in cannot take."""
    if isinstance(recipe, BuiltinRecipe):
        phenomena.get(recipe.builtin).make_config({**config, "seed": seed})


def run_locally(
    recipe: BuiltinRecipe | SourceRecipe,
    config: dict[str, Any],
    seed: int,
    claims: list[str],
    *,
    threads: int = 1,
    limits: Limits | None = None,
    on_point: Callable[[dict], None] | None = None,
) -> RunResult:
    """Run once in the sandbox and evaluate the claims on the result."""
    check_config(recipe, config, seed)
    run = run_recipe(recipe, config, seed, threads=threads, limits=limits or Limits(),
                     on_point=on_point)
    return evaluate_run(run, claims)


def write_run_dir(out: Path, spec: ObservationSpec, run: RunResult, title: str = "") -> None:
    """Write spec.json, metrics.json, run.json and plots/ into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    spec_body = spec.model_dump(mode="json", exclude={"metrics"})
    (out / "spec.json").write_text(json.dumps(spec_body, indent=2) + "\n")
    metrics = {name: s.model_dump(mode="json") for name, s in run.metrics.items()}
    (out / "metrics.json").write_text(json.dumps(metrics) + "\n")
    run_body = run.model_dump(mode="json", exclude={"metrics"})
    (out / "run.json").write_text(json.dumps(run_body, indent=2) + "\n")
    if run.metrics:
        plot_series(run.metrics, out / "plots", title=title)


def read_run_dir(directory: Path) -> ObservationSpec:
    """The spec of a run directory with its metrics, ready to post."""
    spec_path, metrics_path = directory / "spec.json", directory / "metrics.json"
    for path in (spec_path, metrics_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: is {directory} a `tycho run` output?")
    body = json.loads(spec_path.read_text())
    metrics = json.loads(metrics_path.read_text())
    body["metrics"] = {name: Series.model_validate(s) for name, s in metrics.items()}
    return ObservationSpec.model_validate(body)
