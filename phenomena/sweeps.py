"""Built-in sweeps: a phenomenon seen across its knobs, as its papers draw it.

`tycho sweep NAME` runs one (`tycho sweep --list` lists them); docs/sweeps.md
explains sweeps. Each entry names its phenomenon (`target`), a base `config`,
the `grid` of one or two knobs, the `seeds` per cell, the `measures` that reduce
each run to a number, and `claims` over the measures (the sweep's signature).
The claims' margins come from the runs recorded in docs/sweeps.md.
"""

from __future__ import annotations

from typing import Any

BUILTIN_SWEEPS: dict[str, dict[str, Any]] = {
    "double-descent-n-train": {
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
