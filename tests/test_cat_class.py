"""CAT exposure control in a class of 30 on a 200-item bank: the first students are served as
well as the last ones, whether they start one after another or all at once (pure, seeded)."""

from __future__ import annotations

import numpy as np
import pytest

from hub.exams import demo, simulation
from hub.exams.cat import ExposureControl
from hub.exams.irt import FloatArray
from hub.exams.simulation import ClassRun, random_bank

CLASS, BANK, CLASSES, R_MAX = 30, 200, 24, 0.2


def sit_class(seed: int, *, together: bool) -> ClassRun:
    """One class on a fresh bank. Students k and k+20 share θ and random draws (paired)."""
    rng = np.random.default_rng(seed)
    bank = random_bank(rng, BANK)
    truth = rng.normal(0.0, 1.0, CLASS)
    truth[-10:] = truth[:10]
    draws = rng.random((CLASS, BANK))
    draws[-10:] = draws[:10]
    exposure = ExposureControl(BANK, r_max=R_MAX)
    return simulation.sit_class(rng, bank, truth, draws, exposure, together=together)


def _no_worse(first: FloatArray, last: FloatArray) -> bool:
    """Paired: the first ten's mean exceeds the last ten's by less than two standard errors."""
    diff = first - last
    return float(diff.mean()) <= 2.0 * float(diff.std(ddof=1)) / float(np.sqrt(diff.size))


@pytest.mark.parametrize("together", [False, True], ids=["one-after-another", "all-at-once"])
def test_first_ten_of_a_class_are_served_as_well_as_the_last_ten(together: bool) -> None:
    """First 10 students' squared error and test length are no worse than the last 10's, and
    the most exposed item stays about r_max (≤ r_max + 1/30)."""
    runs = [sit_class(20261207 + k, together=together) for k in range(CLASSES)]
    sq = np.concatenate([r.squared_errors for r in runs]).reshape(CLASSES, CLASS)
    length = np.concatenate([r.lengths for r in runs]).reshape(CLASSES, CLASS)
    assert _no_worse(sq[:, :10].ravel(), sq[:, -10:].ravel())
    assert _no_worse(length[:, :10].ravel(), length[:, -10:].ravel())
    assert all(R_MAX <= r.max_exposure <= R_MAX + 1 / CLASS + 1e-9 for r in runs)


def test_demo_bank_is_big_enough_for_the_demo_cat_exam() -> None:
    """The demo pool holds eight times the demo CAT's longest test and room for its r_max."""
    items = len(demo._demo_items())
    longest = int(demo.CAT_SETTINGS["max_items"])
    assert items >= 8 * longest
    assert items >= longest / float(demo.CAT_SETTINGS["r_max"])
