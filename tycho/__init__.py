"""Tycho, a registry for AI phenomenology: the public face for a notebook, and the package
that puts its parts together.

    import tycho
    run = tycho.run("grokking", quick=True)          # a local run in the sandbox
    run.metrics["test_acc"].y, run.to_pandas(), run.plot()
    registry = tycho.Client()                        # TYCHO_SERVER / TYCHO_TOKEN
    obs = registry.get_observation("T-1")
    obs["verdict"], obs.to_pandas(runs=True), obs.plot()
    tycho.post(run, title="...", confirm=True)       # publish a run, as measured

`runner` (run and verify recipes, talk to a registry), `server` (the registry
itself) and `phenomena` (the built-in toy models) never import this package; it
may import all of them. `tycho.cli` is the `tycho` command. Names here load
their modules when first used, so `import tycho` is cheap. See docs/notebook.md
and docs/design.md.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> (module, attribute): what a notebook needs, loaded on first use.
_EXPORTS = {
    "Client": ("runner.client", "Client"),
    "TychoError": ("runner.client", "TychoError"),
    "Observation": ("runner.observation", "Observation"),
    "Curve": ("runner.observation", "Curve"),
    "LocalRun": ("runner.local", "LocalRun"),
    "run": ("tycho.notebook", "run"),
    "post": ("runner.local", "post_run"),
    "load": ("runner.local", "load_run"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tycho' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
