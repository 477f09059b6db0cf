"""Item calibration and drift (hub/exams/calibration.py): pure, synchronous.

Reference values for LSAT7 come from R mirt's own test suite (philchalmers/mirt,
tests/testthat/test-01-mirtOne.R and test-15-IRTpars.R), which prints them on the D = 1
logistic metric: the 2PL/1PL as slope a and intercept d (b = −d/a), the 3PL as b and g. Our
a is theirs divided by D = 1.702. The 2PL reference is the exact optimum: maximising the
marginal likelihood of the 32 patterns directly with scipy gives the same values to 1e-3.
Tolerances: 2 % on a and 0.02 on b. That is well inside the smallest standard errors (18 %
for a₄, 0.11 for b₂), so a real error shows, and about three times the largest gap seen
between mirt for Python and R (quadrature and stopping rules differ), so it does not flap.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hub.exams.calibration import calibrate, drift, flag_drift, rescale, stocking_lord
from hub.exams.irt import D, FloatArray, ItemBank

LSAT7_CSV = Path(__file__).parent / "fixtures" / "lsat7.csv"


def _lsat7() -> FloatArray:
    """The 1,000 × 5 LSAT7 matrix, patterns in R's expand.table(LSAT7) order."""
    rows = np.loadtxt(LSAT7_CSV, delimiter=",", skiprows=1, dtype=str)
    patterns = np.array([[float(ch) for ch in p] for p in rows[:, 0]])
    return np.repeat(patterns, rows[:, 1].astype(int), axis=0)


def _ours(a_r: list[float], d_r: list[float]) -> tuple[FloatArray, FloatArray]:
    """R mirt's slope-intercept (D = 1) to our (a, b) on the D = 1.702 metric."""
    a, d = np.asarray(a_r), np.asarray(d_r)
    return a / D, -d / a


def _sparse_2pl(
    bank: ItemBank, persons: int, per_person: int, rng: np.random.Generator
) -> FloatArray:
    """CAT-like data: every person answers a random ``per_person`` items, NaN elsewhere."""
    theta = rng.normal(0.0, 1.0, persons)
    p = 1.0 / (1.0 + np.exp(-D * bank.a * (theta[:, None] - bank.b)))
    u = (rng.random(p.shape) < p).astype(np.float64)
    shown = np.zeros(p.shape, dtype=bool)
    picks = np.argsort(rng.random(p.shape), axis=1)[:, :per_person]
    np.put_along_axis(shown, picks, True, axis=1)
    return np.where(shown, u, np.nan)


def _bank(n: int, seed: int) -> ItemBank:
    rng = np.random.default_rng(seed)
    return ItemBank.from_params(rng.lognormal(0.0, 0.3, n), rng.normal(0.0, 1.0, n))


def test_lsat7_fixture_is_the_published_table() -> None:
    """The fixture holds 1,000 examinees with the published item proportions correct."""
    u = _lsat7()
    assert u.shape == (1000, 5)
    assert np.round(u.mean(axis=0), 3).tolist() == [0.828, 0.658, 0.772, 0.606, 0.843]


def test_2pl_matches_r_mirt_on_lsat7() -> None:
    """2PL MML estimates of LSAT7 agree with R mirt's published ones."""
    a_ref, b_ref = _ours(
        [0.988, 1.081, 1.706, 0.7651, 0.7358], [1.8561, 0.808, 1.8043, 0.486, 1.8545]
    )
    cal = calibrate(_lsat7(), "2pl")
    assert cal.converged
    np.testing.assert_allclose(cal.a, a_ref, rtol=0.02)
    np.testing.assert_allclose(cal.b, b_ref, atol=0.02)
    assert np.all(cal.c == 0.0)
    assert cal.n.tolist() == [1000] * 5
    assert cal.log_likelihood == pytest.approx(-2658.805, abs=0.01)


def test_2pl_with_missing_cells_matches_r_mirt() -> None:
    """NaN cells are skipped as R mirt skips NA: its published LSAT7 fit with two NAs."""
    u = _lsat7()
    u[0, 0] = u[1, 1] = np.nan
    a_ref, b_ref = _ours([0.969, 1.074, 1.717, 0.763, 0.731], [1.851, 0.808, 1.811, 0.486, 1.852])
    cal = calibrate(u, "2pl")
    np.testing.assert_allclose(cal.a, a_ref, rtol=0.02)
    np.testing.assert_allclose(cal.b, b_ref, atol=0.02)
    assert cal.n.tolist() == [999, 999, 1000, 1000, 1000]


def test_1pl_is_one_common_slope_matching_r_mirt() -> None:
    """1PL estimates one shared a, as R mirt's CONSTRAIN = (1-5, a1) model of LSAT7."""
    a_ref, b_ref = _ours([1.011] * 5, [1.868, 0.791, 1.461, 0.521, 1.993])
    cal = calibrate(_lsat7(), "1pl")
    assert np.ptp(cal.a) == 0.0
    np.testing.assert_allclose(cal.a, a_ref, rtol=0.02)
    np.testing.assert_allclose(cal.b, b_ref, atol=0.02)


def test_3pl_matches_r_mirt_and_the_prior_holds_c() -> None:
    """Unpenalised 3PL matches R mirt's LSAT7 fit; the default Beta prior keeps c near 0.2."""
    ml = calibrate(_lsat7(), "3pl", prior_c=None)
    b_ref = [-1.85291884, -0.04877029, -1.06840017, -0.65462572, -2.43551721]
    np.testing.assert_allclose(ml.b, b_ref, atol=0.02)
    assert ml.c[1] == pytest.approx(0.2950545, abs=0.01)
    bayes = calibrate(_lsat7(), "3pl")
    assert bayes.converged
    assert np.all((bayes.c > 0.15) & (bayes.c < 0.25))


def test_2pl_recovers_parameters_from_sparse_cat_data() -> None:
    """30 random items of 100 per person (70 % missing) still recover a and b."""
    bank = _bank(100, seed=11)
    u = _sparse_2pl(bank, 3000, 30, np.random.default_rng(12))
    cal = calibrate(u, "2pl")
    assert cal.converged
    assert cal.n.sum() == 3000 * 30
    assert np.corrcoef(cal.b, bank.b)[0, 1] > 0.95
    assert np.corrcoef(cal.a, bank.a)[0, 1] > 0.8
    assert float(np.abs(cal.b - bank.b).mean()) < 0.15


def test_items_without_responses_get_nan_and_bad_input_is_refused() -> None:
    """An item nobody saw gets NaN parameters and n = 0; values other than 0/1/NaN raise."""
    u = np.column_stack([_lsat7(), np.full(1000, np.nan)])
    cal = calibrate(u, "2pl")
    assert cal.n[5] == 0
    assert np.isnan([cal.a[5], cal.b[5], cal.c[5]]).all()
    assert np.isfinite(cal.a[:5]).all()
    with pytest.raises(ValueError, match=r"1\.0, 0\.0 or NaN"):
        calibrate(np.array([[0.0, 2.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="2-D"):
        calibrate(np.zeros(4))
    with pytest.raises(ValueError, match="model must be"):
        calibrate(_lsat7(), "4pl")  # type: ignore[arg-type]


def test_drift_is_zero_for_identical_curves_and_flags_a_shifted_item() -> None:
    """RMSD is 0 for identical curves; a b shift of 0.8 is flagged and unchanged items are not."""
    old = ItemBank.from_params([1.0, 1.0, 0.6, 1.5], [0.0, -1.0, 1.5, 0.5], [0.2, 0.0, 0.2, 0.1])
    assert np.array_equal(drift(old, old), np.zeros(4))
    new = ItemBank.from_params(old.a, old.b + np.array([0.8, 0.0, 0.0, 0.0]), old.c)
    rmsd = drift(old, new)
    assert rmsd[0] > 0.1
    assert np.all(rmsd[1:] == 0.0)
    assert flag_drift(old, new) == [0]


def test_drift_between_calibrations_of_an_unchanged_bank_flags_nothing() -> None:
    """Two samples of ~900 responses per item from one bank stay under the 0.1 threshold."""
    bank = _bank(100, seed=21)
    rng = np.random.default_rng(22)
    first = calibrate(_sparse_2pl(bank, 3000, 30, rng))
    second = calibrate(_sparse_2pl(bank, 3000, 30, rng))
    assert flag_drift(first, second) == []
    shifted = replace(first, b=first.b + np.where(np.arange(100) == 7, 0.8, 0.0))
    assert 7 in flag_drift(second, shifted)


def test_stocking_lord_recovers_known_linking_constants() -> None:
    """Parameters moved to a scale θ_new = (θ − 0.4) / 1.3 link back with A = 1.3, B = 0.4."""
    rng = np.random.default_rng(31)
    old = ItemBank.from_params(
        rng.lognormal(0.0, 0.3, 20), rng.normal(0.0, 1.0, 20), rng.uniform(0.0, 0.25, 20)
    )
    new = ItemBank.from_params(old.a * 1.3, (old.b - 0.4) / 1.3, old.c)
    assert stocking_lord(old, new) == pytest.approx((1.3, 0.4), abs=1e-4)


def test_rescale_and_stocking_lord_invert_each_other() -> None:
    """rescale gives b* = A·b + B, a* = a / A, c kept; linking back finds (1/A, −B/A)."""
    cal = calibrate(_lsat7(), "3pl")
    moved = rescale(cal, 0.8, -0.3)
    np.testing.assert_allclose(moved.b, 0.8 * cal.b - 0.3)
    np.testing.assert_allclose(moved.a, cal.a / 0.8)
    assert np.array_equal(moved.c, cal.c) and moved.n is cal.n
    assert stocking_lord(cal, moved) == pytest.approx((1 / 0.8, 0.3 / 0.8), abs=1e-4)
    with pytest.raises(ValueError, match="A > 0"):
        rescale(cal, 0.0, 0.0)


def test_stocking_lord_links_on_the_anchors_only() -> None:
    """A moved item biases the constants unless the anchor mask leaves it out."""
    old = _bank(10, seed=41)
    new = ItemBank.from_params(old.a, np.where(np.arange(10) == 0, old.b + 1.5, old.b))
    biased = stocking_lord(old, new)
    assert abs(biased[1]) > 0.05
    anchors = np.arange(10) != 0
    assert stocking_lord(old, new, anchors) == pytest.approx((1.0, 0.0), abs=1e-4)
    with pytest.raises(ValueError, match="at least 2 anchors"):
        stocking_lord(old, new, [3])
