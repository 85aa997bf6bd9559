"""Built-in sweeps: a phenomenon seen across its knobs, as its papers draw it.

`tycho sweep NAME` runs one (`tycho sweep --list` lists them); docs/sweeps.md
explains sweeps. Each entry has a `title` and a line `about` it, names its
phenomenon (`target`), a base `config`,
the `grid` of one or two knobs, the `seeds` per cell, the `measures` that reduce
each run to a number, and `claims` over the measures (the sweep's signature).
The claims' margins come from the runs recorded in docs/sweeps.md.
"""

from __future__ import annotations

from typing import Any

BUILTIN_SWEEPS: dict[str, dict[str, Any]] = {
    "grokking-phases": {
        "title": "Grokking's phase diagram over weight decay and training fraction",
        "about": "memorisation, grokking and comprehension as regions of weight decay x "
                 "training fraction (Liu et al. 2022, Fig. 6; Gromov 2023)",
        "target": "grokking",
        "grid": {"weight_decay": [0.0, 0.3, 1.0, 3.0], "train_fraction": [0.2, 0.3, 0.5]},
        "seeds": 1,
        "measures": {
            "final_test": "final(test_acc)",
            "grok": "first_step(test_acc >= 0.95)",
            "delay": "first_step(test_acc >= 0.95) / first_step(train_acc >= 0.99)",
        },
        # Seed 0: no generalisation within 500 steps at fraction 0.2 for weight decay
        # <= 1 (test accuracy 0.004-0.016), grokking at 0.3 (delay 7.5-26x), learning at
        # once at 0.5 (delay 2.2-2.9x); weight decay shortens the delay (290 -> 90 steps).
        "claims": [
            # Memorisation: too little data and no weight decay never generalises ...
            "at(final_test, 0, 0.2) < 0.1",
            # ... grokking: at the module's default cell, a long delay (12.7x) ...
            "at(delay, 1, 0.3) >= 8",
            # ... comprehension: with half the table, generalisation keeps pace.
            "at(delay, 0, 0.5) <= 4 and at(delay, 3, 0.5) <= 4",
            # Weight decay shortens grokking (90 of 290 steps at fraction 0.3) ...
            "at(grok, 3, 0.3) <= 0.5 * at(grok, 0, 0.3)",
            # ... and the generalising region is most, not all, of the grid (9 or 10
            # of 12 cells, as weight decay 3 rescues fraction 0.2 or not).
            "fraction(final_test >= 0.99) between 0.6 and 0.9",
        ],
    },
    "double-descent-n-train": {
        "title": "Double descent's peak moves with the training set: it sits at width = n",
        "about": "double descent's peak sits at the interpolation threshold N = n, so it "
                 "moves with the training set's size (Nakkiran et al. 2019, Fig. 2's shift)",
        "target": "double-descent",
        "grid": {"n_train": [40.0, 80.0, 160.0]},
        "seeds": 1,
        "measures": {
            "peak_width": "argmax(test_error)",
            "peak_height": "max(test_error) / final(test_error)",
        },
        "claims": [
            # The peak's width is proportional to n: slope 1 on log-log axes. The
            # widths are a geometric grid (x1.12 a step) scaled with n, so the
            # argmax is one grid step either side of n: over n x4 that moves the
            # slope by at most 0.17 (measured 0.99 and 1.16 on seeds 0 and 1 at
            # n = 50-200). A peak that stays put has slope 0.
            "loglog_slope(peak_width) between 0.8 and 1.2",
            # ... and it is a real peak at every n.
            "min(peak_height) >= 4",
        ],
    },
    "edge-of-stability-lr": {
        "title": "The edge of stability across learning rates: sharpness hovers at 2/lr",
        "about": "full-batch GD's sharpness rises to 2/lr and hovers there, for every lr "
                 "in range: the plateau scales as 1/lr (Cohen et al. 2021, Fig. 1 across lr)",
        "target": "edge-of-stability",
        "grid": {"lr": [0.02, 0.03, 0.045]},
        "seeds": 1,
        "measures": {
            # The plateau: sharpness from 1000 steps after it reached 0.9 of 2/lr.
            "plateau": "mean(sharpness, first_step(sharpness >= 0.9 * final(two_over_lr)) "
                       "+ 1000)",
            "plateau_over_edge": "mean(sharpness, first_step(sharpness >= 0.9 * "
                                 "final(two_over_lr)) + 1000) / final(two_over_lr)",
        },
        "claims": [
            # The plateau tracks 2/lr: slope -1 against lr on log-log axes (measured
            # -0.985 on seeds 0-1); a sharpness that ignored lr would give 0 ...
            "loglog_slope(plateau) between -1.1 and -0.9",
            # ... and sits at the edge itself for every lr (measured 0.999-1.02 of
            # 2/lr over seeds 0-1), as the module's own claim 3 states for one lr.
            "min(plateau_over_edge) >= 0.97",
            "max(plateau_over_edge) <= 1.04",
        ],
    },
}
