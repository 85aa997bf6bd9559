"""Wire schemas shared by the runner, the server, the worker and the client.

One definition of every shape that crosses a process or network boundary: the
observation spec (what `POST /observations` takes and `/observations/{id}/spec`
returns), metric series, run results, claim results, and the worker protocol.
The server imports these; it never redefines them.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
from typing import Annotated, Any

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
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
# text cannot hold, and no lone surrogate, which is not UTF-8); ids fit a 64-bit
# integer column; numbers a person gives are finite; free-form JSON (a config, an
# environment) is bounded in depth and size, so that reading it back can never fail.

MAX_ID = 2**63 - 1
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
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_ID:
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
    """

    model_config = ConfigDict(extra="forbid")

    x: list[float]
    y: list[float | None]
    axis: str = "step"

    @field_validator("axis")
    @classmethod
    def _axis_name(cls, value: str) -> str:
        if not AXIS_NAME.match(value):
            raise ValueError(
                f"axis {value!r} must be a word of letters, digits and underscores "
                "(e.g. 'step', 'width', 'n_params')"
            )
        return value

    @field_validator("y", mode="before")
    @classmethod
    def _nonfinite_to_null(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value:
            return value
        try:  # vectorised: a series can hold 100,000 points
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):  # nulls or non-numbers: check one by one
            return [None if isinstance(v, float) and not math.isfinite(v) else v for v in value]
        if array.ndim != 1:  # nested lists: let the type check say so
            return value
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            value = list(value)
            for i in bad:
                value[i] = None
        return value

    @model_validator(mode="after")
    def _shape(self) -> "Series":
        if len(self.x) != len(self.y):
            raise ValueError(
                f"x has {len(self.x)} values but y has {len(self.y)}: "
                "every point needs both"
            )
        x = np.asarray(self.x, dtype=np.float64)
        nonfinite = np.flatnonzero(~np.isfinite(x))
        if nonfinite.size:
            i = int(nonfinite[0])
            _finite(float(x[i]), f"x[{i}]")
        backwards = np.flatnonzero(np.diff(x) <= 0)
        if backwards.size:
            i = int(backwards[0]) + 1
            raise ValueError(
                f"x must be strictly increasing, but x[{i}] = {self.x[i]!r} "
                f"follows {self.x[i - 1]!r}"
            )
        return self


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
    peak_memory_mb: float | None = None
    # Whether the sandbox could take the network away (unprivileged unshare).
    network_isolated: bool | None = None
    error: Printed | None = None
    log_tail: Printed = ""
    claims: list[ClaimResult] = Field(default_factory=list)


class RunKind(str, enum.Enum):
    author = "author"  # the run the observation was posted with
    verification = "verification"  # a worker's re-run
    reproduction = "reproduction"  # someone's local re-run posted with `tycho rerun --post`


# --- worker protocol -------------------------------------------------------


class JobClaimRequest(BaseModel):
    worker_id: Line = Field(min_length=1, max_length=200)


class JobAssignment(BaseModel):
    """What a worker gets when it claims a job."""

    job_id: int
    observation: str  # "T-42v1"
    spec: ObservationSpec
    seeds: list[int]  # the original seed first, then the fresh ones
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

