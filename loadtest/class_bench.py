"""CAT exposure control in a class: are the first students served as well as the last?

Simulates classes of `--class-size` students on fresh 200-item 3PL banks (a ~ LogNormal(0, 0.3),
b ~ N(0, 1), c ~ U(0.10, 0.25)), each test stopping at SE < 0.3 or 50 items, top_k 3 and
r_max 0.2, with the students starting one after another or all at once (each answering in
turn). For the restricted method on the raw rate (warm-up 0, the engine before issue 15) and
on the smoothed rate (the default, 1/r_max pseudo-attempts) it reports, per group of ten
students in start order, RMSE of the final θ, mean test length and mean final SE, and the
maximum item exposure rate over each class (mean and max over classes).

    .venv/bin/python loadtest/class_bench.py [--classes 200] [--class-size 30] [--seed 11]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.exams.cat import ExposureControl
from hub.exams.simulation import ClassRun, random_bank, sit_class

BANK, R_MAX = 200, 0.2


def sit(rng: np.random.Generator, size: int, warmup: float | None, *, together: bool) -> ClassRun:
    bank = random_bank(rng, BANK)
    truth = rng.normal(0.0, 1.0, size)
    draws = rng.random((size, BANK))
    exposure = ExposureControl(BANK, r_max=R_MAX, warmup=warmup)
    return sit_class(rng, bank, truth, draws, exposure, together=together)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument("--class-size", type=int, default=30)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    size = args.class_size
    groups = [(g, min(g + 10, size)) for g in range(0, size, 10)]
    print(f"{args.classes} classes of {size}, bank {BANK}, r_max {R_MAX}, top_k 3, SE < 0.3")
    header = "  ".join(f"{lo + 1:>2}-{hi:<2} rmse  len   se " for lo, hi in groups)
    print(f"{'method':<22}{'start':<10}{header}  max exposure (mean/max)")
    for name, warmup in (("raw rate (before)", 0.0), ("smoothed (1/r_max)", None)):
        for together in (False, True):
            rng = np.random.default_rng(args.seed)
            runs = [sit(rng, size, warmup, together=together) for _ in range(args.classes)]
            sq = np.stack([r.squared_errors for r in runs])
            length = np.stack([r.lengths for r in runs])
            se = np.stack([r.standard_errors for r in runs])
            top = np.asarray([r.max_exposure for r in runs])
            cells = "  ".join(
                f"      {np.sqrt(sq[:, lo:hi].mean()):.3f} {length[:, lo:hi].mean():5.1f} "
                f"{se[:, lo:hi].mean():.3f}"
                for lo, hi in groups
            )
            start = "together" if together else "in turn"
            print(f"{name:<22}{start:<10}{cells}  {top.mean():.3f}/{top.max():.3f}")


if __name__ == "__main__":
    main()
