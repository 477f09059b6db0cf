"""IRT maths (hub/exams/irt.py) and the CAT engine (hub/exams/cat.py): pure, synchronous."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize  # type: ignore[import-untyped]

from hub.exams.cat import CatBank, CatEngine, ExposureControl
from hub.exams.irt import (
    D,
    ItemBank,
    eap,
    information,
    log_likelihood,
    mle,
    posterior,
    prob,
    quadrature_grid,
)


def _bank(n: int, seed: int = 0, areas: list[str] | None = None) -> ItemBank:
    rng = np.random.default_rng(seed)
    return ItemBank.from_params(
        rng.lognormal(0.0, 0.3, n), rng.normal(0.0, 1.0, n), rng.uniform(0.10, 0.25, n), areas
    )


def _simulate(
    bank: ItemBank, engine: CatEngine, theta: float, rng: np.random.Generator
) -> CatEngine:
    while (item := engine.next_item()) is not None:
        p = float(prob(theta, bank.a[item], bank.b[item], bank.c[item]))
        engine.update(item, bool(rng.random() < p))
    return engine


def test_prob_and_information_hand_checked() -> None:
    """P and Fisher information match values worked out by hand."""
    # 3PL a=1, b=0, c=0.2 at θ=0: the logistic is 1/2, so P = 0.2 + 0.8·0.5 = 0.6.
    # I = D²·a²·((P−c)²/(1−c)²)·((1−P)/P) = 2.896804 · (0.16/0.64) · (0.4/0.6)
    #   = 2.896804 · 0.25 · 0.666667 = 0.482801 (D² = 1.702² = 2.896804).
    assert float(prob(0.0, 1.0, 0.0, 0.2)) == pytest.approx(0.6, abs=1e-12)
    assert float(information(0.0, 1.0, 0.0, 0.2)) == pytest.approx(0.482801, abs=1e-6)
    # 2PL a=1.5, b=1 at θ=1: P = 0.5 and I = D²·a²·P·(1−P) = 2.896804·2.25·0.25 = 1.629452.
    assert float(prob(1.0, 1.5, 1.0)) == pytest.approx(0.5, abs=1e-12)
    assert float(information(1.0, 1.5, 1.0)) == pytest.approx(1.629452, abs=1e-6)
    # 1PL (a=1, c=0) at θ=1, b=0: P = 1/(1+e^−1.702) = 1/(1+0.182319) = 0.845795,
    # I = D²·P·(1−P) = 2.896804·(0.845795·0.154205 = 0.130426) = 0.377817.
    assert float(prob(1.0, 1.0, 0.0)) == pytest.approx(0.845795, abs=1e-6)
    assert float(information(1.0, 1.0, 0.0)) == pytest.approx(0.377817, abs=1e-6)
    # Vectorised over items: one call, three answers.
    p = prob(0.0, [1.0, 1.5, 1.0], [0.0, 1.0, 0.0], [0.2, 0.0, 0.0])
    assert p.shape == (3,)
    assert D == 1.702


def test_eap_matches_direct_integral() -> None:
    """EAP θ and posterior SD on three items match adaptive quadrature of the posterior."""
    bank = ItemBank.from_params([1.0, 1.4, 0.8], [-0.5, 0.3, 1.0], [0.2, 0.15, 0.0])
    items, answers = [0, 1, 2], [1, 0, 1]

    def weight(t: float, power: int) -> float:
        like = math.exp(float(log_likelihood(t, bank, items, answers)))
        return t**power * like * math.exp(-0.5 * t * t)

    z = integrate.quad(weight, -10, 10, args=(0,))[0]
    mean = integrate.quad(weight, -10, 10, args=(1,))[0] / z
    sd = math.sqrt(integrate.quad(weight, -10, 10, args=(2,))[0] / z - mean**2)
    theta, se = eap(bank, items, answers)
    assert theta == pytest.approx(mean, abs=2e-3)
    assert se == pytest.approx(sd, abs=2e-3)
    theta_f, se_f = eap(bank, items, answers, grid=quadrature_grid(401, -6.0, 6.0))
    assert theta_f == pytest.approx(mean, abs=1e-6)
    assert se_f == pytest.approx(sd, abs=1e-6)


def test_mle_mixed_pattern() -> None:
    """MLE on a mixed pattern is the maximiser of the log-likelihood, with SE from information."""
    bank = _bank(20, seed=3)
    items = list(range(20))
    answers = [1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1]
    theta, se = mle(bank, items, answers)
    ref = optimize.minimize_scalar(
        lambda t: -float(log_likelihood(t, bank, items, answers)),
        bounds=(-4.0, 4.0),
        method="bounded",
        options={"xatol": 1e-9},
    )
    assert theta == pytest.approx(ref.x, abs=1e-4)
    total = float(information(theta, bank.a, bank.b, bank.c).sum())
    assert se == pytest.approx(1.0 / math.sqrt(total), rel=1e-9)
    # All correct has no finite MLE: it ends at the upper bound.
    assert mle(bank, items, [1] * 20)[0] == pytest.approx(4.0)


def test_monotonicity() -> None:
    """P rises with θ, and turning a wrong answer into a right one raises the EAP θ."""
    bank = _bank(8, seed=1)
    grid = np.linspace(-4, 4, 200)
    p = prob(grid[:, None], bank.a, bank.b, bank.c)
    assert np.all(np.diff(p, axis=0) > 0)
    answers = [0] * 8
    last = eap(bank, range(8), answers)[0]
    for k in range(8):
        answers[k] = 1
        now = eap(bank, range(8), answers)[0]
        assert now > last
        last = now
    # A 2PL item is most informative at θ = b.
    info = information(grid, 1.3, 0.4)
    assert abs(grid[int(np.argmax(info))] - 0.4) < 0.05


def test_posterior_update_matches_batch() -> None:
    """The engine's multiplicative posterior equals the batch posterior after the same answers."""
    bank = _bank(60, seed=2)
    engine = _simulate(
        bank, CatEngine(bank, np.random.default_rng(0)), 0.7, np.random.default_rng(1)
    )
    post = posterior(bank, engine.items, engine.answers, engine.cat.grid)
    assert np.allclose(engine.post, post, atol=1e-12)
    assert (engine.theta, engine.se) == pytest.approx(eap(bank, engine.items, engine.answers))


def test_never_repeats_an_item() -> None:
    """No item is given twice, and answering one twice is refused."""
    bank = _bank(40, seed=4)
    rng = np.random.default_rng(5)
    for theta in (-2.0, 0.0, 2.0):
        engine = CatEngine(bank, rng, top_k=5, se_stop=0.01, max_items=40)
        _simulate(bank, engine, theta, rng)
        assert len(engine.items) == 40
        assert len(set(engine.items)) == 40
        assert engine.next_item() is None
    engine = CatEngine(bank, rng)
    item = engine.next_item()
    assert item is not None
    assert engine.next_item() == item  # asking again before answering: the same item
    engine.update(item, True)
    with pytest.raises(ValueError):
        engine.update(item, False)


def test_stop_rules() -> None:
    """The test stops at SE < se_stop, or at max_items when the SE rule cannot be met."""
    bank = _bank(200, seed=6)
    rng = np.random.default_rng(7)
    engine = _simulate(bank, CatEngine(bank, rng, se_stop=0.4), 0.3, rng)
    assert engine.se < 0.4
    assert len(engine.items) < 50
    # One item fewer and the SE was still above the threshold.
    prev = eap(bank, engine.items[:-1], engine.answers[:-1])[1]
    assert prev >= 0.4
    engine = _simulate(bank, CatEngine(bank, rng, se_stop=0.05, max_items=7), 0.3, rng)
    assert len(engine.items) == 7
    assert engine.done


def test_exposure_control_lowers_max_exposure() -> None:
    """The shared exposure cap keeps every item below r_max; without it one item goes to all."""
    bank = _bank(120, seed=8)
    cat = CatBank(bank)
    thetas = np.random.default_rng(9).normal(0.0, 1.0, 200)
    rates = {}
    for name, top_k, r_max in (("none", 1, None), ("random20", 20, None), ("cap", 3, 0.2)):
        rng = np.random.default_rng(10)
        exposure = ExposureControl(len(bank), r_max=r_max)
        for theta in thetas:
            engine = CatEngine(cat, rng, top_k=top_k, se_stop=0.35, exposure=exposure)
            _simulate(bank, engine, float(theta), rng)
        rates[name] = float(exposure.rates().max())
    assert rates["none"] == 1.0
    assert rates["cap"] <= 0.2 + 1 / 200
    assert rates["cap"] < rates["random20"] < rates["none"]


def test_content_balancing() -> None:
    """Each test follows the content targets to within one item per area."""
    areas = ["algebra", "geometry", "stats"] * 40
    bank = _bank(120, seed=11, areas=areas)
    targets = {"algebra": 0.5, "geometry": 0.3, "stats": 0.2}
    rng = np.random.default_rng(12)
    for theta in (-1.0, 0.0, 1.5):
        engine = CatEngine(bank, rng, se_stop=0.01, max_items=20, content_balance=targets)
        _simulate(bank, engine, theta, rng)
        given = [areas[i] for i in engine.items]
        for area, share in targets.items():
            assert abs(given.count(area) - share * 20) <= 1
    with pytest.raises(ValueError):
        CatEngine(bank, rng, content_balance={"history": 1.0})


def test_restore_from_responses() -> None:
    """next_item(responses) rebuilds the state from stored answers."""
    bank = _bank(80, seed=13)
    rng = np.random.default_rng(14)
    first = _simulate(bank, CatEngine(bank, rng, se_stop=0.5), -0.4, rng)
    again = CatEngine(bank, rng, se_stop=0.5)
    assert again.next_item(list(zip(first.items, first.answers, strict=True))) is None
    assert (again.theta, again.se) == pytest.approx((first.theta, first.se))


def test_resume_keeps_the_parameters_answers_were_scored_with() -> None:
    """resume() takes the past's likelihood as given: the same answers under recalibrated
    parameters leave θ where the old parameters put it, and the items stay used."""
    bank = _bank(60, seed=21)
    rng = np.random.default_rng(22)
    cat = CatBank(bank)
    done = CatEngine(cat, rng, max_items=8, se_stop=0.01)
    for _ in range(5):
        item = done.next_item()
        assert item is not None
        done.update(item, bool(item % 2))
    answered = list(zip(done.items, done.answers, strict=True))
    then = posterior(bank, done.items, done.answers, cat.grid, cat.prior)
    resumed = CatEngine(CatBank(_bank(60, seed=99)), rng, max_items=8, se_stop=0.01)
    resumed.resume(answered, then)
    assert (resumed.theta, resumed.se) == pytest.approx((done.theta, done.se))
    assert resumed.items == done.items and resumed.next_item() not in done.items
    with pytest.raises(ValueError, match="posterior"):
        resumed.resume(answered, then[:-1])


def test_selection_runs_on_a_10k_bank() -> None:
    """Selection on a 10,000-item bank works (speed itself is measured in loadtest/cat_bench.py)."""
    bank = _bank(10_000, seed=15)
    rng = np.random.default_rng(16)
    exposure = ExposureControl(len(bank), r_max=0.2)
    engine = CatEngine(bank, rng, top_k=3, exposure=exposure)
    _simulate(bank, engine, 1.0, rng)
    assert 1 <= len(engine.items) <= 50
    assert engine.cat.info.shape == (61, 10_000)


def test_bank_validation() -> None:
    """Bad item parameters are refused."""
    with pytest.raises(ValueError):
        ItemBank.from_params([1.0, -1.0], [0.0, 0.0])
    with pytest.raises(ValueError):
        ItemBank.from_params([1.0], [0.0], [1.0])
    with pytest.raises(ValueError):
        ItemBank.from_params([1.0, 1.0], [0.0])
