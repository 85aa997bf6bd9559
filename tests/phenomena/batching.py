"""What the phenomena's batched-vs-alone tests share: the same seeds run both ways."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from runner.recorder import Recorder


def batched_and_alone(phenomenon: Any, config: Any, seeds: Sequence[int],
                      ) -> Iterator[tuple[int, Recorder, Recorder]]:
    """`seeds` trained as one batch (`run_batch`), then each alone (`run`): yields
    (seed, its log in the batch, its log alone) for the caller to compare."""
    batch = [Recorder() for _ in seeds]
    phenomenon.run_batch(config, seeds, batch)
    for seed, batched in zip(seeds, batch):
        alone = Recorder()
        phenomenon.run(dataclasses.replace(config, seed=seed), alone)
        yield seed, batched, alone
