"""The library of toy models that reproduce known phenomena on a laptop CPU.

Each phenomenon is one module, registered below by its slug (the name used in
`{"recipe": {"builtin": "<slug>"}}` and `tycho run <slug>`). A module defines:

- a docstring that explains the phenomenon, cites the papers, and names what
  each probe (metric series) measures;
- `Config`: a dataclass with `seed: int` and a comment on every non-obvious
  default saying where it comes from;
- `run(config: Config, log) -> None`: trains and reports every metric through
  `log(index, axis=..., **values)`, and how far it is through
  `log.progress(done, total)` (see `runner.recorder`); no I/O, no prints;
- optionally, `run_batch(config: Config, seeds: list[int], logs: list) -> None`:
  trains len(seeds) independent copies at once in this process (a leading
  seed dimension in the weights, batched matmuls) and reports copy i to
  logs[i]. Copy i is seeded, fed and initialised exactly as
  `run(replace(config, seed=seeds[i]), logs[i])` would be, so its curves agree
  with that run within float tolerance and its claims come out the same
  (tests/phenomena check both); `config.seed` is not used. A verification runs
  its fresh seeds through it (see `Phenomenon.run_batch`), unless the module says
  `BATCHING_PAYS = False` (seeds together no faster than one by one), when they
  run in parallel sandboxes instead;
- `CLAIMS`: claim strings (see `runner.claims`) stating the published signature
  quantitatively; they must hold on the default seed and on most other seeds;
- `QUICK`: config overrides that finish in a few seconds, for tests;
- `TITLE`: the title of the canonical observation of this phenomenon;
- optionally, `GROUPS`: lists of series names drawn together in one panel,
  e.g. `[["train_acc", "test_acc"]]`; a post sends those of a run's series
  (`ObservationCreate.groups`);
- optionally, `QUICK_CLAIMS`: claims stated for the `QUICK` size, which a
  quick run then judges (without them a quick run is a smoke test).

Modules import only torch, numpy, the standard library and `runner.recorder`.
Process-wide state belongs to the runner, which sets it in the sandbox before
`run()`: the seeds of python/numpy/torch, deterministic algorithms, the thread
count, and flush-denormal (denormals made some of these runs 15-25x slower).
A module must not change it, so that calling `run()` from a notebook or a test
leaves the caller's process as it was.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from runner.spec import BUILTIN_RECIPES

# slug -> module path; the slugs are the stable public names in runner.spec.
BUILTINS: dict[str, str] = {
    name: f"phenomena.{name.replace('-', '_')}" for name in BUILTIN_RECIPES
}


class UnknownPhenomenon(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; say it plainly
        return str(self.args[0])


class ConfigError(ValueError):
    """A config mapping does not fit a phenomenon's Config."""


@dataclass(frozen=True)
class Phenomenon:
    """A registered phenomenon module and what the runner needs from it."""

    name: str
    module: ModuleType

    @property
    def config_class(self) -> type:
        return self.module.Config

    @property
    def claims(self) -> list[str]:
        return list(self.module.CLAIMS)

    @property
    def quick(self) -> dict[str, Any]:
        return dict(self.module.QUICK)

    @property
    def title(self) -> str:
        return self.module.TITLE

    @property
    def groups(self) -> list[list[str]]:
        return [list(group) for group in getattr(self.module, "GROUPS", [])]

    @property
    def summary(self) -> str:
        doc = (self.module.__doc__ or "").strip()
        return doc.split("\n\n", 1)[0].replace("\n", " ")

    def defaults(self) -> dict[str, Any]:
        """The default config as a plain mapping (seed included)."""
        return dataclasses.asdict(self.config_class())

    def make_config(self, mapping: dict[str, Any]) -> Any:
        """Build a Config from a mapping, naming any key that does not belong."""
        fields = {f.name: f for f in dataclasses.fields(self.config_class)}
        unknown = sorted(set(mapping) - set(fields))
        if unknown:
            raise ConfigError(
                f"{self.name} has no config key {', '.join(map(repr, unknown))}; "
                f"known keys: {', '.join(sorted(fields))}"
            )
        values = {}
        defaults = self.defaults()
        for key, value in mapping.items():
            default = defaults[key]
            values[key] = _coerce(self.name, key, value, default)
        return self.config_class(**values)

    def run(self, config: Any, log: Any) -> None:
        self.module.run(config, log)

    @property
    def batched(self) -> bool:
        """Whether the module trains several seeds at once (`run_batch`)."""
        return callable(getattr(self.module, "run_batch", None))

    @property
    def batching_pays(self) -> bool:
        """Whether training seeds together is faster than one after the other: a module
        whose step is a few large matrix products says `BATCHING_PAYS = False`, and a
        verification then runs its fresh seeds in parallel sandboxes instead."""
        return self.batched and bool(getattr(self.module, "BATCHING_PAYS", True))

    def run_batch(self, config: Any, seeds: Sequence[int], logs: Sequence[Any]) -> None:
        """Run `config` on each seed, seed i reporting to logs[i]: all at once where the
        module has `run_batch`, else one after the other."""
        if len(seeds) != len(logs):
            raise ValueError(f"{len(seeds)} seeds but {len(logs)} logs: one log per seed")
        if self.batched:
            self.module.run_batch(config, list(seeds), list(logs))
            return
        for seed, log in zip(seeds, logs):
            self.module.run(dataclasses.replace(config, seed=seed), log)


def _coerce(name: str, key: str, value: Any, default: Any) -> Any:
    """Match a config value to its default's type (for `--set key=value` and JSON)."""
    if default is None or value is None:
        return value
    kind = type(default)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "1", "0"}:
            return value.lower() in {"true", "1"}
        raise ConfigError(f"{name}.{key} must be true or false, got {value!r}")
    if kind in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{name}.{key} must be a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}.{key} must be a number, got {value!r}") from None
        if kind is int:
            if not number.is_integer():
                raise ConfigError(f"{name}.{key} must be a whole number, got {value!r}")
            return int(number)
        return number
    if kind in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}.{key} must be a list, got {value!r}")
        return kind(value)
    return value


def names() -> list[str]:
    """The slugs of every built-in phenomenon."""
    return list(BUILTINS)


def get(name: str) -> Phenomenon:
    """The phenomenon registered as `name` (imports its module on first use)."""
    if name not in BUILTINS:
        raise UnknownPhenomenon(
            f"no built-in phenomenon {name!r}; built-ins are: {', '.join(BUILTINS)}"
        )
    return Phenomenon(name=name, module=importlib.import_module(BUILTINS[name]))
