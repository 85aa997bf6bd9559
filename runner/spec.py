"""Wire schemas shared by the runner, the server, the worker and the client.

One definition of every shape that crosses a process or network boundary: the
observation spec (what `POST /observations` takes and `/observations/{id}/spec`
returns), metric series, run results, claim results, and the worker protocol.
The server imports these; it never redefines them.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import json
import math
import re
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

# A series name must be usable inside a claim (`final(test_acc) >= 0.9`).
SERIES_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Axis names follow the same rule (`step`, `width`, `n_params`, `dataset_size`).
AXIS_NAME = SERIES_NAME
# Phenomenon slugs and tags: lower-case words joined by hyphens.
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_CLAIMS = 64
# The built-in recipes, by slug; `phenomena/` holds one module per name. The
# server validates `{"builtin": name}` against this list without importing them.
BUILTIN_RECIPES: tuple[str, ...] = (
    "grokking",
    "double-descent",
    "edge-of-stability",
    "superposition",
    "neural-scaling",
    "emergence",
    "loss-parameterization",
    "feature-learning",
)
MAX_CLAIM_CHARS = 500
# Runs posted with an observation (`ObservationCreate.runs`): the author's and
# those of a local reproduction's fresh seeds.
MAX_POSTED_RUNS = 65
# Series a reader sees overlaid in one panel (`train_acc` with `test_acc`).
MAX_GROUPS = 16
MAX_GROUP_SERIES = 8


class Verdict(str, enum.Enum):
    """What verification concluded about an observation version."""

    unverified = "unverified"  # posted; no verification has finished yet
    reproduced = "reproduced"  # every claim holds on the original seed
    robust = "robust"  # reproduced, and every claim holds on >= 80% of fresh seeds
    fragile = "fragile"  # reproduced, but some claim holds on < 80% of fresh seeds
    not_reproduced = "not-reproduced"  # some claim fails on the original seed
    error = "error"  # the re-run crashed, timed out or hit a resource limit
    unverifiable = "unverifiable"  # no runnable recipe (or submitted code not run here)


class Relation(str, enum.Enum):
    """Typed, directed relation of a link: `source <relation> target`."""

    reproduces = "reproduces"  # re-ran the target and its claims held
    fails_to_reproduce = "fails-to-reproduce"  # re-ran the target and a claim failed
    extends = "extends"  # same setup, pushed further (more steps, sizes, probes)
    varies = "varies"  # same question, a knob turned (optimizer, data, width)
    connects = "connects"  # points out that two observations share a cause or signature
    unifies = "unifies"  # one account covering several observations at once
    explains = "explains"  # a theory or mechanism for the target
    applies = "applies"  # uses the target's insight in an algorithm or method
    contradicts = "contradicts"  # reports a result incompatible with the target's claims
    supersedes = "supersedes"  # replaces the target (better recipe, corrected claim)


class RunStatus(str, enum.Enum):
    ok = "ok"  # the recipe returned normally
    error = "error"  # crash, time-out, resource limit, malformed metrics channel


def _finite(value: float, where: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number, got {value!r}")
    return value


# --- values every client and the registry check the same way ----------------------
# Text the registry stores must be storable on every backend (no NUL, which Postgres
# text cannot hold, and no lone surrogate, which is not UTF-8); ids fit the integer
# column that holds them (Postgres INTEGER: 32 bits), and integers in free-form JSON
# 64 bits; numbers a person gives are finite; free-form JSON (a config, an
# environment) is bounded in depth and size, so that reading it back can never fail.

MAX_ID = 2**31 - 1
MAX_JSON_INT = 2**63 - 1
MAX_JSON_DEPTH = 32
MAX_JSON_ITEMS = 10_000
MAX_JSON_BYTES = 64 * 1024
# C0 and C1 control characters and DEL: nothing a name or a title needs, and XML
# (the Atom feeds) cannot carry most of them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (\\u0000)")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode (it holds a lone surrogate)") from None
    return value


def _one_line(value: str) -> str:
    _storable(value)
    if match := _CONTROL.search(value):
        raise ValueError(f"must be one line without control characters "
                         f"(found U+{ord(match.group()):04X})")
    return value


def _printed(value: str) -> str:
    """What a program printed, made storable: NUL and lone surrogates become U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if not value.isascii():
        value = _SURROGATE.sub("\ufffd", value)
    return value


def check_json(value: Any, name: str = "") -> Any:
    """`value` if it is JSON the registry stores and serves back as it is: at most
    MAX_JSON_DEPTH levels and MAX_JSON_ITEMS values, finite numbers, integers that fit
    64 bits, storable strings, at most MAX_JSON_BYTES written out. Walked without
    recursion, so that no depth can break the check itself. `name` starts the paths
    that errors name (`config.lr`)."""
    stack: list[tuple[Any, tuple | None, int]] = [(value, (name, None) if name else None, 1)]
    seen = 1
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"is nested more than {MAX_JSON_DEPTH} levels deep"
                                 f"{_json_path(where)}")
            seen += len(node)
            if seen > MAX_JSON_ITEMS:
                raise ValueError(f"holds more than {MAX_JSON_ITEMS:,} values")
            for key, item in node.items() if isinstance(node, dict) else enumerate(node):
                if isinstance(key, str):
                    try:
                        _storable(key)
                    except ValueError as exc:
                        raise ValueError(f"a key {exc}{_json_path(where)}") from None
                stack.append((item, (key, where), depth + 1))
        elif isinstance(node, float) and not math.isfinite(node):
            raise ValueError(f"{node!r}{_json_path(where)} is not allowed; use a finite number "
                             "or null")
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_JSON_INT:
            raise ValueError(f"{node} does not fit in 64 bits{_json_path(where)}")
        elif isinstance(node, str):
            try:
                _storable(node)
            except ValueError as exc:
                raise ValueError(f"a string {exc}{_json_path(where)}") from None
    size = len(json.dumps(value))
    if size > MAX_JSON_BYTES:
        raise ValueError(f"is {size:,} bytes of JSON; the limit is {MAX_JSON_BYTES:,}")
    return value


def _json_path(where: tuple | None) -> str:
    """' at config.a[2]' for the chain of keys `where` ((key, parent), ...), or ''."""
    keys = []
    while where is not None:
        key, where = where
        keys.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    path = "".join(reversed(keys)).lstrip(".")
    return f" at {path[:100]}{'…' if len(path) > 100 else ''}" if path else ""


# Text a person writes (notes, a comment, source): anything storable, several lines.
Text = Annotated[str, AfterValidator(_storable)]
# A name, a title, an id given as text: one line, no control characters.
Line = Annotated[str, AfterValidator(_one_line)]
# Text a program printed (a log tail, an error): stored with NUL replaced, never refused.
Printed = Annotated[str, AfterValidator(_printed)]
# A finite number: NaN and infinities are refused.
FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]
# The id of a stored row (a comment, a job): what a 64-bit integer column holds.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# A free-form JSON object (a config): bounded, see check_json.
JsonObject = Annotated[dict[str, Any],
                       AfterValidator(lambda value, info: check_json(value, info.field_name))]


class Series(BaseModel):
    """One metric series: y against an index axis (`step` by default).

    `x` is strictly increasing and finite. `y` holds floats; `null` stands for a
    value that was not a finite number (a diverged loss, NaN), so that JSON can
    carry it and claims can see it.

    A grid series (a two-knob sweep: `delay` over `weight_decay` and
    `train_fraction`) also has `x2` on a second axis `axis2`: point i is at
    (x[i], x2[i]), and the points are ordered by x, then x2, each once.

    A series may hold a million points, so it is checked in vectorised passes
    over numpy arrays, not value by value (4x faster on a post of 100,000
    points: benchmarks/api.py); the float64 arrays are kept (`arrays()`) for
    whoever needs them next (claims, storage).
    """

    model_config = ConfigDict(extra="forbid")

    x: Annotated[list[float], PlainValidator(lambda v: _numbers(v, "x")),
                 WithJsonSchema({"type": "array", "items": {"type": "number"}})]
    y: Annotated[list[float | None], PlainValidator(lambda v: _numbers(v, "y")),
                 WithJsonSchema({"type": "array",
                                 "items": {"anyOf": [{"type": "number"}, {"type": "null"}]}})]
    axis: str = "step"
    x2: Annotated[list[float] | None, PlainValidator(lambda v: _numbers(v, "x2", None)),
                  WithJsonSchema({"anyOf": [{"type": "array", "items": {"type": "number"}},
                                            {"type": "null"}]})] = Field(
        default=None, exclude_if=lambda value: value is None)  # 1-D series travel as before
    axis2: str | None = Field(default=None, exclude_if=lambda value: value is None)
    _arrays: tuple[np.ndarray, np.ndarray] | None = PrivateAttr(default=None)

    @field_validator("axis", "axis2")
    @classmethod
    def _axis_name(cls, value: str | None) -> str | None:
        if value is not None and not AXIS_NAME.match(value):
            raise ValueError(
                f"axis {value!r} must be a word of letters, digits and underscores "
                "(e.g. 'step', 'width', 'n_params')"
            )
        return value

    @model_validator(mode="after")
    def _shape(self) -> "Series":
        if len(self.x) != len(self.y):
            raise ValueError(
                f"x has {len(self.x)} values but y has {len(self.y)}: every point needs both"
            )
        if (self.x2 is None) != (self.axis2 is None):
            raise ValueError("a grid series needs both x2 and axis2 (the second knob's name)")
        x = self.arrays()[0]
        if self.x2 is None:
            backwards = np.flatnonzero(np.diff(x) <= 0)
            if backwards.size:
                i = int(backwards[0]) + 1
                raise ValueError(f"x must be strictly increasing, but x[{i}] = {self.x[i]!r} "
                                 f"follows {self.x[i - 1]!r}")
            return self
        if len(self.x2) != len(self.x):
            raise ValueError(f"x has {len(self.x)} values but x2 has {len(self.x2)}")
        x2 = self.x2_array()
        dx, dx2 = np.diff(x), np.diff(x2)
        disorder = np.flatnonzero((dx < 0) | ((dx == 0) & (dx2 <= 0)))
        if disorder.size:
            i = int(disorder[0]) + 1
            raise ValueError(
                f"the points of a grid series are ordered by x, then x2, each once; "
                f"({self.x[i]!r}, {self.x2[i]!r}) follows ({self.x[i - 1]!r}, {self.x2[i - 1]!r})")
        return self

    def __eq__(self, other: Any) -> bool:
        # By value: the cached arrays are a private detail, and numpy arrays have no
        # single truth value, so pydantic's comparison of private attributes cannot be used.
        if not isinstance(other, Series):
            return NotImplemented
        return ((self.x, self.y, self.axis, self.x2, self.axis2)
                == (other.x, other.y, other.axis, other.x2, other.axis2))

    __hash__ = None  # mutable, like every pydantic model

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """x and y as float64 arrays, null as NaN (computed once)."""
        if self._arrays is None:
            # The arrays the checks made, when there were checks; numpy reads None as NaN.
            self._arrays = (_as_array(self.x), _as_array(self.y))
        return self._arrays

    def x2_array(self) -> np.ndarray | None:
        """A grid series' second coordinates as float64, else None."""
        return None if self.x2 is None else _as_array(self.x2)


def _as_array(values: list) -> np.ndarray:
    """The array a checked list was checked as, else a new one (numpy reads None as NaN)."""
    array = getattr(values, "array", None)
    return array if array is not None else np.asarray(values, dtype=np.float64)


class _Numbers(list):
    """A checked list of numbers that keeps the float64 array it was checked as."""

    array: np.ndarray


def _numbers(values: Any, name: str, absent: Any = ...) -> list[float | None]:
    """A flat list of numbers as floats: x and x2 finite, anything not finite in y null.
    Where `absent` is given, None stands for no list at all."""
    if values is None and absent is not ...:
        return absent
    array = _float_array(values, name)
    numbers = _Numbers(array.tolist())
    numbers.array = array
    if name == "y":
        for i in np.flatnonzero(~np.isfinite(array)):
            numbers[i] = None
        return numbers
    nonfinite = np.flatnonzero(~np.isfinite(array))
    if nonfinite.size:
        i = int(nonfinite[0])
        _finite(float(array[i]), f"{name}[{i}]")
    return numbers


def _float_array(values: Any, name: str) -> np.ndarray:
    """A flat list of numbers (null allowed, as NaN) as float64, or a clear error."""
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"{name} must be a list of numbers, got {type(values).__name__}")
    try:
        array = np.array(values, dtype=np.float64)  # null -> NaN
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be a flat list of numbers ({exc})") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a flat list of numbers, not a list of lists")
    return array


class BuiltinRecipe(BaseModel):
    """A recipe from the `phenomena/` library, by name (`grokking`)."""

    model_config = ConfigDict(extra="forbid")

    builtin: str


class SourceRecipe(BaseModel):
    """Submitted Python source; `entrypoint(config, log)` is called in the sandbox."""

    model_config = ConfigDict(extra="forbid")

    source: Text = Field(min_length=1)
    entrypoint: str = "run"

    @field_validator("entrypoint")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not value.isidentifier():
            raise ValueError(f"entrypoint {value!r} must be a Python function name")
        return value

    @property
    def sha256(self) -> str:
        return source_sha256(self.source)


Recipe = BuiltinRecipe | SourceRecipe


def verification_seeds(seed: int, fresh: int) -> list[int]:
    """The seeds a verification runs: the original first, then `fresh` new ones.

    Consecutive seeds after the original: reproducible, distinct, and easy to
    re-run by hand (`tycho run NAME --seed N`).
    """
    return [seed] + [(seed + i) % 2**32 for i in range(1, fresh + 1)]


def source_sha256(source: str) -> str:
    """The content address of submitted source: sha256 of its UTF-8 bytes."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


class Environment(BaseModel):
    """Where a run happened. `exact` reproduction is expected only between equal ones."""

    model_config = ConfigDict(extra="allow")

    python: str | None = None
    torch: str | None = None
    numpy: str | None = None
    platform: str | None = None
    machine: str | None = None
    cpu: str | None = None
    threads: int | None = None

    @model_validator(mode="after")
    def _bounded(self) -> "Environment":
        check_json(self.model_dump(), "environment")
        return self

    def fingerprint(self) -> tuple:
        return (self.python, self.torch, self.numpy, self.platform, self.cpu, self.threads)


Claims = Annotated[list[str], Field(max_length=MAX_CLAIMS)]

# A sweep's bounds: a phase diagram has one or two knobs; a few hundred runs at
# most (a cell costs seconds to a minute on a CPU).
MAX_SWEEP_KNOBS = 2
MAX_SWEEP_VALUES = 32
MAX_SWEEP_SEEDS = 16
MAX_SWEEP_RUNS = 512
MAX_MEASURES = 32


class SweepSpec(BaseModel):
    """A sweep: a grid over one or two config knobs, the seeds of every cell, and the
    measures that reduce each run to one number (claim-language values such as
    `first_step(test_acc >= 0.95)`; see docs/sweeps.md).

    A sweep observation's metrics are the measures against the knobs: for one
    knob, `NAME` against axis KNOB (the mean over seeds), with `NAME_min` and
    `NAME_max` when there are several seeds; for two, grid series (x, x2).
    """

    model_config = ConfigDict(extra="forbid")

    grid: dict[str, list[float]] = Field(min_length=1, max_length=MAX_SWEEP_KNOBS)
    seeds: list[Annotated[int, Field(ge=0, lt=2**32)]] = Field(
        default_factory=lambda: [0], min_length=1, max_length=MAX_SWEEP_SEEDS)
    measures: dict[str, Annotated[str, Field(max_length=MAX_CLAIM_CHARS)]] = Field(
        min_length=1, max_length=MAX_MEASURES)

    @field_validator("grid")
    @classmethod
    def _knobs(cls, value: dict[str, list[float]]) -> dict[str, list[float]]:
        for knob, values in value.items():
            if not AXIS_NAME.match(knob):
                raise ValueError(f"knob {knob!r} must be a config key (letters, digits, _)")
            if not 1 <= len(values) <= MAX_SWEEP_VALUES:
                raise ValueError(f"knob {knob!r} needs 1 to {MAX_SWEEP_VALUES} values, "
                                 f"got {len(values)}")
            if any(not math.isfinite(v) for v in values) or len(set(values)) != len(values):
                raise ValueError(f"knob {knob!r}: the values must be finite and distinct")
        return {knob: sorted(values) for knob, values in value.items()}

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("the seeds of a sweep must be distinct")
        return value

    @field_validator("measures")
    @classmethod
    def _measure_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not SERIES_NAME.match(name) or name.endswith(("_min", "_max")):
                raise ValueError(f"measure name {name!r} must be a series name (letters, "
                                 "digits, _) not ending in _min or _max")
        return value

    @model_validator(mode="after")
    def _size(self) -> "SweepSpec":
        runs = math.prod(len(v) for v in self.grid.values()) * len(self.seeds)
        if runs > MAX_SWEEP_RUNS:
            raise ValueError(f"the sweep has {runs} runs (cells x seeds); the limit is "
                             f"{MAX_SWEEP_RUNS}: use fewer values or seeds")
        return self

    def cells(self) -> list[dict[str, float]]:
        """Every cell of the grid, the first knob varying slowest."""
        return [dict(zip(self.grid, values)) for values in itertools.product(*self.grid.values())]

    def sample(self, count: int) -> list[dict[str, float]]:
        """`count` cells spread evenly over the grid, corners included: the cells a
        verification re-runs (every cell when the grid has no more)."""
        cells = self.cells()
        if count >= len(cells):
            return cells
        if count <= 1:
            return cells[len(cells) // 2: len(cells) // 2 + 1]
        picks = sorted({round(i * (len(cells) - 1) / (count - 1)) for i in range(count)})
        return [cells[i] for i in picks]

    def fresh_seed(self) -> int:
        """A seed none of the sweep's runs used: the one after its largest."""
        return (max(self.seeds) + 1) % 2**32


class ObservationSpec(BaseModel):
    """All that is needed to re-run an observation and check its claims."""

    model_config = ConfigDict(extra="forbid")

    recipe: Recipe
    config: JsonObject = Field(default_factory=dict)
    # numpy and torch take seeds in [0, 2**32).
    seed: int = Field(default=0, ge=0, lt=2**32)
    metrics: dict[str, Series] = Field(default_factory=dict)
    claims: Claims = Field(default_factory=list)
    environment: Environment | None = None
    # A sweep's grid, seeds and measures; `config` is then the base every cell
    # changes, and `metrics` the measures against the knobs.
    sweep: SweepSpec | None = Field(default=None, exclude_if=lambda value: value is None)

    @field_validator("metrics")
    @classmethod
    def _series_names(cls, value: dict[str, Series]) -> dict[str, Series]:
        for name in value:
            if not SERIES_NAME.match(name):
                raise ValueError(
                    f"series name {name!r} must start with a letter or underscore and "
                    "hold only letters, digits and underscores (claims refer to it)"
                )
        return value

    @field_validator("claims")
    @classmethod
    def _claim_length(cls, value: list[str]) -> list[str]:
        for i, claim in enumerate(value):
            if len(claim) > MAX_CLAIM_CHARS:
                raise ValueError(
                    f"claim {i} is {len(claim)} characters; the limit is {MAX_CLAIM_CHARS}"
                )
        return value


class ObservationCreate(ObservationSpec):
    """The body of `POST /observations`: a spec plus what a reader needs."""

    title: Line = Field(min_length=1, max_length=300)
    phenomena: list[Line] = Field(default_factory=list, max_length=16)
    tags: list[Line] = Field(default_factory=list, max_length=32)
    notes: Text = ""
    # The runs as measured where the observation was made, as `tycho run` and
    # `tycho rerun --post` send them: the first is the posted run itself (its
    # series are `metrics`, so its own `metrics` stay empty); any others are
    # further seeds of the same spec, with their series. Stored as they are;
    # the registry's verdict comes from its own verification.
    # A sweep's posted runs are the first, then its cells' runs (`cell` set).
    runs: list[RunResult] = Field(default_factory=list, max_length=1 + MAX_SWEEP_RUNS)
    # Series drawn together in one panel, e.g. [["train_acc", "test_acc"],
    # ["sharpness", "two_over_lr"]] (a built-in phenomenon's GROUPS by default).
    groups: list[Annotated[list[str], Field(min_length=2, max_length=MAX_GROUP_SERIES)]] = Field(
        default_factory=list, max_length=MAX_GROUPS)

    @model_validator(mode="after")
    def _groups_name_series(self) -> "ObservationCreate":
        for i, group in enumerate(self.groups):
            unknown = [name for name in group if name not in self.metrics]
            if unknown:
                raise ValueError(f"groups[{i}] names {', '.join(map(repr, unknown))}, which "
                                 f"{'is' if len(unknown) == 1 else 'are'} not among the metrics")
            if len(set(group)) != len(group):
                raise ValueError(f"groups[{i}] names a series twice")
        return self

    @model_validator(mode="after")
    def _posted_runs(self) -> "ObservationCreate":
        if self.runs:
            first = self.runs[0]
            if first.seed != self.seed or first.metrics or first.cell is not None:
                raise ValueError("runs[0] is the posted run itself: its seed is the "
                                 "observation's and its series are `metrics` (leave its own empty)")
            if first.status is not RunStatus.ok:
                raise ValueError(f"runs[0] failed ({first.error}); post a run that finished")
        if self.sweep is None:
            if len(self.runs) > MAX_POSTED_RUNS:
                raise ValueError(f"runs: at most {MAX_POSTED_RUNS} runs, got {len(self.runs)}")
            if any(run.cell is not None for run in self.runs):
                raise ValueError("runs: a run with a `cell` belongs to a sweep; this body has "
                                 "no `sweep`")
            return self
        cells = {tuple(sorted(cell.items())) for cell in self.sweep.cells()}
        for i, run in enumerate(self.runs[1:], start=1):
            if run.cell is None or tuple(sorted(run.cell.items())) not in cells:
                raise ValueError(f"runs[{i}]: a sweep's runs after the first are its cells' "
                                 f"runs, each with a `cell` of the grid (got {run.cell})")
            if run.seed not in self.sweep.seeds:
                raise ValueError(f"runs[{i}]: seed {run.seed} is not one of the sweep's seeds")
        return self

    @model_validator(mode="after")
    def _sweep_axes(self) -> "ObservationCreate":
        # A sweep's series are its measures against its knobs.
        if self.sweep is None:
            return self
        knobs = list(self.sweep.grid)
        for name, series in self.metrics.items():
            axes = [series.axis] + ([series.axis2] if series.axis2 else [])
            if axes != knobs:
                raise ValueError(f"metrics.{name}: a sweep over {', '.join(knobs)} has series "
                                 f"against {' and '.join(knobs)}, not {' and '.join(axes)}")
        return self


class ClaimResult(BaseModel):
    """One claim evaluated on one run."""

    claim: str
    holds: bool
    # A sentence a person can read: "first_step(test_acc >= 0.95) = 4100, needed >= 1500".
    detail: str
    # The values that were compared, left to right (None where never reached / NaN).
    values: list[float | None] = Field(default_factory=list)


class SeriesComparison(BaseModel):
    """A submitted series against the reproduced one."""

    name: str
    exact: bool
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    # Set when the series could not be compared point by point.
    problem: str | None = None


class RunResult(BaseModel):
    """One execution of a recipe with a config and a seed."""

    status: RunStatus
    seed: int
    metrics: dict[str, Series] = Field(default_factory=dict)
    environment: Environment | None = None
    wall_time_s: float | None = None
    cpu_time_s: float | None = None
    # The recipe's own wall time, from its call to its return, as the sandbox
    # measured it: wall_time_s less the sandbox's start and the imports before.
    recipe_time_s: float | None = None
    peak_memory_mb: float | None = None
    # Whether the sandbox could take the network away (unprivileged unshare).
    network_isolated: bool | None = None
    error: Printed | None = None
    log_tail: Printed = ""
    claims: list[ClaimResult] = Field(default_factory=list)
    # A run of a sweep's cell: the knobs it set (the rest is the sweep's base config).
    cell: dict[str, float] | None = Field(default=None, exclude_if=lambda value: value is None)


ObservationCreate.model_rebuild()  # its `runs` are RunResults, defined above only now


class RunKind(str, enum.Enum):
    author = "author"  # the run the observation was posted with
    verification = "verification"  # a worker's re-run
    reproduction = "reproduction"  # someone's local re-run posted with `tycho rerun --post`
    cell = "cell"  # the author's run of one cell of a sweep (its `cell` says which)


# --- worker protocol -------------------------------------------------------


class JobClaimRequest(BaseModel):
    worker_id: Line = Field(min_length=1, max_length=200)


class JobAssignment(BaseModel):
    """What a worker gets when it claims a job."""

    job_id: int
    observation: str  # "T-42v1"
    spec: ObservationSpec
    seeds: list[int]  # the original seed first, then the fresh ones
    # A sweep's job: the cells to run, each on every seed of `seeds`.
    cells: list[dict[str, float]] = Field(default_factory=list)
    # `verify`: re-run a posted observation (a sweep's cells: fresh seeds) and judge it;
    # `sweep`: run a cell of a sweep its author runs on the workers (no verdict).
    purpose: Literal["verify", "sweep"] = "verify"
    lease_expires_at: str
    lease_seconds: int


class SeedState(str, enum.Enum):
    queued = "queued"  # waiting for a free sandbox
    running = "running"  # its sandbox is running
    done = "done"  # finished (whatever its claims say)
    failed = "failed"  # crashed, or hit a limit


class SeedProgress(BaseModel):
    """How far one seed of a verification is."""

    seed: int
    state: SeedState = SeedState.queued
    # Work done of the total: the recipe's own `log.progress(done, total)`, else
    # the index of its latest step against the author's last step.
    done: float | None = None
    total: float | None = None
    elapsed_s: float | None = None
    eta_s: float | None = None  # seconds left, once it can be estimated


class JobProgress(BaseModel):
    """A running verification, as its worker reports it with each heartbeat."""

    seeds: list[SeedProgress] = Field(default_factory=list, max_length=1024)
    eta_s: float | None = None  # seconds until the whole job is done, once known


class JobHeartbeat(BaseModel):
    worker_id: Line
    progress: JobProgress | None = None


class JobHeartbeatReply(BaseModel):
    lease_expires_at: str
    cancelled: bool = False


class JobComplete(BaseModel):
    worker_id: Line
    runs: list[RunResult]  # the original seed first, then the fresh seeds
    comparisons: list[SeriesComparison] = Field(default_factory=list)
    verdict: Verdict
    reason: Printed = ""
    # claim -> fraction of fresh seeds on which it held
    pass_rates: dict[str, FiniteNumber] = Field(default_factory=dict)


class JobFail(BaseModel):
    worker_id: Line
    reason: Printed = Field(max_length=20_000)

