"""Local runs: resolve a target, run it in the sandbox, keep it in a run directory, post it.

A run directory (what `tycho run` writes and `tycho post` reads):
    spec.json     recipe, config, seed, claims, environment
    metrics.json  {name: {x, y, axis}}
    run.json      status, timings, peak memory, claim results, error, log tail
    plots/*.png   one plot per series (drawn in the background, after the run)

Nothing here imports torch or a phenomenon: what a built-in is (its title,
claims, quick config, defaults) comes from the warm fork server that runs it
(`runner.forkserver.describe`), so that the caller's process stays light.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner import forkserver
from runner.claims import ClaimSyntaxError, parse_claim
from runner.compare import evaluate_run
from runner.execute import Limits, run_recipe
from runner.spec import (
    BUILTIN_RECIPES,
    BuiltinRecipe,
    ObservationCreate,
    ObservationSpec,
    RunResult,
    RunStatus,
    Series,
    SourceRecipe,
)

# Where `tycho run` keeps its runs unless told otherwise.
RUNS_DIR = Path("tycho-runs")
# A run folder's name spells its config overrides up to this length; beyond, a digest.
FOLDER_NAME_CHARS = 80


class TargetError(ValueError):
    """A `tycho run` target that is neither a built-in nor a readable recipe file, a config
    a built-in cannot take, or a claim that does not parse."""


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """"; did you mean 'grokking'?" for a near miss, else ""."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def resolve_target(target: str) -> BuiltinRecipe | SourceRecipe:
    """`grokking` -> built-in; `my_toy.py` or `my_toy.py:train` -> submitted source."""
    if target in BUILTIN_RECIPES:
        return BuiltinRecipe(builtin=target)
    path_text, _, entrypoint = target.partition(":")
    path = Path(path_text)
    if path.suffix == ".py" or path.exists():
        if not path.is_file():
            raise TargetError(f"no recipe file {path_text!r}")
        return SourceRecipe(source=path.read_text(encoding="utf-8"), entrypoint=entrypoint or "run")
    raise TargetError(
        f"{target!r} is neither a built-in phenomenon nor a Python file (my_toy.py or "
        f"my_toy.py:run){did_you_mean(target, BUILTIN_RECIPES)} Built-ins: "
        f"{', '.join(BUILTIN_RECIPES)}"
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


def check_claims(claims: list[str]) -> None:
    """Parse every claim before anything runs; a fault names the claim and its column."""
    for claim in claims:
        try:
            parse_claim(claim)
        except ClaimSyntaxError as exc:
            raise TargetError(f"the claim does not parse: {exc}") from None


def describe_builtin(name: str, config: dict[str, Any] | None = None,
                     threads: int = 1) -> dict[str, Any]:
    """What `runner.forkserver.describe` says of a built-in; a config it cannot take is a
    TargetError that names the key (and the nearest known one)."""
    described = forkserver.describe(name, config, threads=threads)
    if "error" in described:
        raise TargetError(described["error"])
    problem = described.get("config_error")
    if problem:
        unknown = [key for key in (config or {}) if key not in described["defaults"]]
        hints = "".join(did_you_mean(key, list(described["defaults"])) for key in unknown[:1])
        raise TargetError(problem + hints)
    return described


def default_claims(recipe: BuiltinRecipe | SourceRecipe) -> list[str]:
    if isinstance(recipe, BuiltinRecipe):
        return describe_builtin(recipe.builtin)["claims"]
    return []


def changed_config(config: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The overrides that differ from a built-in's defaults."""
    return {key: value for key, value in config.items()
            if key not in defaults or defaults[key] != value}


@dataclass
class LocalRun:
    """One run on this machine: its spec (metrics included), its result (claims evaluated),
    and what a person needs to know before posting it."""

    spec: ObservationSpec
    result: RunResult
    name: str  # grokking, or my_toy for my_toy.py
    title: str = ""  # a built-in's canonical title
    quick: bool = False  # a built-in's quick config: a smoke run
    changed: dict[str, Any] = field(default_factory=dict)  # overrides of a built-in's defaults
    directory: Path | None = None
    quick_config: dict[str, Any] = field(default_factory=dict)  # a built-in's quick overrides

    @property
    def ok(self) -> bool:
        return self.result.status is RunStatus.ok

    @property
    def failing_claims(self) -> list[str]:
        return [c.claim for c in self.result.claims if not c.holds]

    @property
    def metrics(self) -> dict[str, Any]:
        """The series as numpy arrays: {name: Curve(x, y, axis)}."""
        from runner.observation import curves

        return curves(self.result.metrics)

    def to_pandas(self):
        from runner.observation import frame

        return frame([("local", self.spec.seed, self.result.metrics)])

    def plot(self, series: list[str] | None = None):
        from runner.observation import figure

        return figure({self.name: self.result.metrics}, series=series,
                      title=f"{self.name}, seed {self.spec.seed}")

    def _repr_html_(self) -> str:
        from runner.observation import run_html

        return run_html(self)

    def save(self, out: str | Path | None = None) -> Path:
        """Keep it as a run directory (what `tycho post` reads), plots drawn now; the
        default folder is the one `tycho run` would choose."""
        wanted = Path(out) if out else run_folder(self.name, self.changed, self.spec.seed,
                                                  self.quick)
        folder, _ = choose_folder(wanted, self.spec, chosen=out is not None)
        save_run(self, folder, plots="now")
        return folder

    def post_warnings(self) -> list[str]:
        """What the author must confirm before posting this run (empty: nothing)."""
        warnings = []
        if self.quick:
            warnings.append("it is a quick run (a smoke test at a small size), not the "
                            "phenomenon at the size its claims are stated for")
        elif self.changed:
            shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in self.changed.items())
            warnings.append(f"its config differs from the built-in's defaults ({shown})")
        if self.failing_claims:
            warnings.append(f"{len(self.failing_claims)} of {len(self.result.claims)} claims "
                            "fail on it: " + "; ".join(self.failing_claims))
        return warnings

    def default_title(self) -> str | None:
        """The canonical title for an unchanged built-in; a plain one for a variant; None
        for a recipe of one's own (its author must give one)."""
        if not isinstance(self.spec.recipe, BuiltinRecipe):
            return None
        if not self.quick and not self.changed:
            return self.title
        named = {k: v for k, v in self.changed.items()
                 if not self.quick or self.quick_config.get(k, object()) != v}
        shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in named.items())
        return (f"{self.name}{' (quick)' if self.quick else ''}"
                + (f" with {shown}" if shown else ""))[:300]

    def observation(self, *, title: str | None = None, notes: str = "",
                    phenomena: list[str] | None = None, tags: list[str] | None = None,
                    confirm: bool = False) -> ObservationCreate:
        """The body that posts this run as measured (its claims, timings, environment).

        Refuses (ValueError) a failed run; a run with a warning (`post_warnings`) unless
        `confirm`; and a changed config under the built-in's canonical title.
        """
        if not self.ok:
            raise ValueError(f"the run failed ({self.result.error}); fix it and run it again "
                             "before posting")
        warnings = self.post_warnings()
        if warnings and not confirm:
            raise ValueError("posting it needs your confirmation: " + "; ".join(warnings))
        title = title or self.default_title()
        if not title:
            raise ValueError("a recipe of your own needs a title")
        if (self.quick or self.changed) and title.strip() == self.title:
            raise ValueError(f"{title!r} is the canonical title of the built-in at its defaults; "
                             "a run with another config needs a title of its own")
        builtin = getattr(self.spec.recipe, "builtin", None)
        measured = self.result.model_copy(update={"metrics": {}, "log_tail":
                                                  self.result.log_tail[-LOG_TAIL_POSTED:]})
        return ObservationCreate(
            **self.spec.model_dump(), title=title, notes=notes,
            phenomena=phenomena or ([builtin] if builtin else []), tags=tags or [],
            runs=[measured])


# What a posted run keeps of its output.
LOG_TAIL_POSTED = 8 * 1024


def run_folder(name: str, config: dict[str, Any], seed: int, quick: bool) -> Path:
    """tycho-runs/grokking-seed0, tycho-runs/grokking-weight_decay=0-seed0, ...-quick-...:
    one folder per config, so that a run never lands on another config's."""
    overrides = "-".join(f"{k}={json.dumps(v, separators=(',', ':'))}"
                         for k, v in sorted(config.items()))
    overrides = re.sub(r"[^A-Za-z0-9_.=,+-]+", "_", overrides).strip("_")
    if len(overrides) > FOLDER_NAME_CHARS:
        digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]
        overrides = f"config-{digest}"
    parts = [name] + (["quick"] if quick else []) + ([overrides] if overrides else [])
    return RUNS_DIR / f"{'-'.join(parts)}-seed{seed}"


def _same_spec(directory: Path, spec: ObservationSpec) -> bool:
    try:
        kept = json.loads((directory / "spec.json").read_text())
    except (OSError, ValueError):
        return False
    mine = spec.model_dump(mode="json", include={"recipe", "config", "seed"})
    return {k: kept.get(k) for k in mine} == mine


def choose_folder(wanted: Path, spec: ObservationSpec, *, chosen: bool) -> tuple[Path, str]:
    """Where to keep a run, and what to say about it. A folder that holds a run of another
    spec is never replaced silently: a default folder gets a free name beside it (-2, -3,
    ...), a folder the person chose (--out) is replaced, with a note."""
    if not (wanted / "spec.json").exists():
        return wanted, ""
    if _same_spec(wanted, spec):
        return wanted, f"replaced the earlier run of the same spec in {wanted}"
    if chosen:
        return wanted, f"replaced the run of another spec that was in {wanted}"
    for n in range(2, 10_000):
        candidate = wanted.with_name(f"{wanted.name}-{n}")
        if not (candidate / "spec.json").exists() or _same_spec(candidate, spec):
            return candidate, f"{wanted} holds a run of another spec; kept this one beside it"
    raise TargetError(f"too many runs beside {wanted}; choose a folder with --out")


def run_target(
    target: str | BuiltinRecipe | SourceRecipe,
    *,
    config: dict[str, Any] | None = None,
    seed: int = 0,
    claims: list[str] | None = None,
    quick: bool = False,
    threads: int = 1,
    limits: Limits | None = None,
    source_name: str | None = None,
    on_point: Callable[[dict], None] | None = None,
    on_progress: Callable[[float, float], None] | None = None,
    on_output: Callable[[bytes], None] | None = None,
    on_start: Callable[["LocalRun"], None] | None = None,
) -> LocalRun:
    """Run a built-in (`grokking`), a recipe file (`my_toy.py:run`) or a recipe once in the
    sandbox, with its own claims (a built-in's defaults) and `claims`, and evaluate them.

    Everything that can be checked is checked before the run starts (the target, the
    config, every claim), raising TargetError. `on_start` gets the run, result not yet
    known, once the checks pass. With `quick`, a built-in runs its quick config.
    """
    recipe = resolve_target(target) if isinstance(target, str) else target
    config = dict(config or {})
    extra = list(claims or [])
    check_claims(extra)
    name, title, changed, quick_config = "recipe", "", {}, {}
    if isinstance(recipe, BuiltinRecipe):
        name = recipe.builtin
        if quick:
            config = {**describe_builtin(name, threads=threads)["quick"], **config}
        described = describe_builtin(name, {**config, "seed": seed}, threads=threads)
        own = described["quick_claims"] if quick and described.get("quick_claims") else (
            described["claims"])
        title, changed = described["title"], changed_config(config, described["defaults"])
        quick_config = described["quick"]
        quick = quick and not described.get("quick_claims")  # with claims of its own: judged
        extra = own + [c for c in extra if c not in own]
    elif quick:
        raise TargetError("--quick applies to built-in phenomena only")
    else:
        if isinstance(target, str):
            source_name = source_name or Path(target.partition(":")[0]).name
            name = Path(target.partition(":")[0]).stem
    spec = ObservationSpec(recipe=recipe, config=config, seed=seed, claims=extra)
    local = LocalRun(spec=spec, result=RunResult(status=RunStatus.ok, seed=seed), name=name,
                     title=title, quick=quick, changed=changed, quick_config=quick_config)
    if on_start is not None:
        on_start(local)
    result = run_recipe(recipe, config, seed, threads=threads, limits=limits or Limits(),
                        on_point=on_point, on_progress=on_progress, on_output=on_output,
                        source_name=source_name or "recipe.py")
    local.result = evaluate_run(result, extra)
    local.spec = spec.model_copy(update={"metrics": result.metrics,
                                         "environment": result.environment})
    return local


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
    """Run once in the sandbox and evaluate `claims` on the result (checked first)."""
    check_claims(claims)
    if isinstance(recipe, BuiltinRecipe):
        describe_builtin(recipe.builtin, {**config, "seed": seed}, threads=threads)
    run = run_recipe(recipe, config, seed, threads=threads, limits=limits or Limits(),
                     on_point=on_point)
    return evaluate_run(run, claims)


def write_run_dir(out: Path, spec: ObservationSpec, run: RunResult, title: str = "",
                  *, plots: str = "now") -> None:
    """Write spec.json, metrics.json, run.json and plots/ into `out`.

    `plots`: "now" draws them before returning, "background" in a process of their
    own that outlives this one (`tycho run` does not wait for matplotlib), "none" not.
    """
    out.mkdir(parents=True, exist_ok=True)
    spec_body = spec.model_dump(mode="json", exclude={"metrics"})
    (out / "spec.json").write_text(json.dumps(spec_body, indent=2) + "\n")
    metrics = {name: s.model_dump(mode="json") for name, s in run.metrics.items()}
    (out / "metrics.json").write_text(json.dumps(metrics) + "\n")
    run_body = run.model_dump(mode="json", exclude={"metrics"})
    (out / "run.json").write_text(json.dumps(run_body, indent=2) + "\n")
    if not run.metrics or plots == "none":
        return
    if plots == "background":
        draw_plots_later(out, title)
    else:
        from runner.plot import plot_series

        plot_series(run.metrics, out / "plots", title=title)


def draw_plots_later(out: Path, title: str = "") -> None:
    """Draw out/plots/*.png from out/metrics.json in a detached process (`runner.plot`)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    subprocess.Popen([sys.executable, "-m", "runner.plot", str(out.resolve()), title],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, env=env)


def save_run(local: LocalRun, out: Path, *, plots: str = "background") -> None:
    write_run_dir(out, local.spec, local.result, title=local.name, plots=plots)
    local.directory = out


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


def load_run(directory: Path) -> LocalRun:
    """A run directory as a LocalRun: its spec, its result as measured (run.json), and, for
    a built-in, what it changed of the defaults (asked of the fork server)."""
    spec = read_run_dir(directory)
    run_path = directory / "run.json"
    if run_path.is_file():
        result = RunResult.model_validate(json.loads(run_path.read_text()))
    else:  # a directory from before run.json: what the spec says
        result = RunResult(status=RunStatus.ok, seed=spec.seed, environment=spec.environment)
    result = result.model_copy(update={"metrics": spec.metrics})
    name, title, changed, quick = directory.name, "", {}, False
    if isinstance(spec.recipe, BuiltinRecipe):
        described = describe_builtin(spec.recipe.builtin)
        name, title = spec.recipe.builtin, described["title"]
        changed = changed_config(spec.config, described["defaults"])
        quick = bool(described["quick"]) and all(
            spec.config.get(k) == v for k, v in described["quick"].items())
    return LocalRun(spec=spec, result=result, name=name, title=title, quick=quick,
                    changed=changed, directory=directory,
                    quick_config=described["quick"] if title else {})


def post_run(run: LocalRun | str | Path, *, client: Any = None, title: str | None = None,
             notes: str = "", phenomena: list[str] | None = None, tags: list[str] | None = None,
             confirm: bool = False) -> Any:
    """Post a run (a LocalRun or a run directory) as an observation, exactly as measured:
    the notebook's `tycho.post`. See `LocalRun.observation` for what needs `confirm`."""
    from runner.client import Client

    local = run if isinstance(run, LocalRun) else load_run(Path(run))
    body = local.observation(title=title, notes=notes, phenomena=phenomena, tags=tags,
                             confirm=confirm)
    return (client or Client()).post_observation(body)
