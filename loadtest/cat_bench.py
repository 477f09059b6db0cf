"""Accuracy and speed of the CAT engine (hub/exams/cat.py), side by side with PyPI peers.

Simulates examinees θ ~ N(0, 1) on a generated 3PL bank (a ~ LogNormal(0, 0.3),
b ~ N(0, 1), c ~ U(0.10, 0.25), D = 1.702), every test starting at θ = 0 and stopping at
SE < 0.3 or 50 items. For each engine it reports RMSE and bias of the final θ with bootstrap
95 % intervals, mean test length, the share of tests that hit the item limit, the maximum item
exposure rate and the median time of one next-item selection; our engine is also timed on a
10,000-item bank. All engines see the same bank, the same simulees and the same answer draws
(one uniform number per simulee and item, so an item answered by two engines gets the same
answer).

Peers (pip extra `bench`), each skipped with a note when it cannot be imported: `catsim`, and
the CAT engine of the PyPI package `mirt` (mirt.cat.CATEngine, a Python/Rust package, not R's
mirtCAT). mirt chooses the next item inside `administer_item`, so its time per step is one EAP
update plus one selection, where the other engines' is a selection alone.

    .venv/bin/python loadtest/cat_bench.py [--examinees 1000] [--items 500] [--seed 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.exams.cat import CatBank, CatEngine, ExposureControl
from hub.exams.irt import D, FloatArray, ItemBank, information, prob

SE_STOP = 0.3
MAX_ITEMS = 50
TARGETS = {"rmse": 0.30, "mean_len": 15.0, "at_max": 0.01, "max_exposure": 0.25, "sel_ms": 1.0}


@dataclass
class Row:
    engine: str
    rmse: float
    rmse_lo: float
    rmse_hi: float
    bias: float
    bias_lo: float
    bias_hi: float
    mean_len: float
    at_max: float
    max_exposure: float
    sel_us_median: float
    sel_us_10k: float | None = None
    note: str = ""


def make_bank(rng: np.random.Generator, n: int) -> ItemBank:
    return ItemBank.from_params(
        rng.lognormal(0.0, 0.3, n), rng.normal(0.0, 1.0, n), rng.uniform(0.10, 0.25, n)
    )


def summarise(
    name: str,
    truth: FloatArray,
    est: FloatArray,
    lengths: FloatArray,
    counts: FloatArray,
    sel_ns: list[int],
    boot_rng: np.random.Generator,
    note: str = "",
) -> Row:
    err = est - truth
    idx = boot_rng.integers(0, err.size, size=(2000, err.size))
    boot = err[idx]
    rmse_b = np.sqrt((boot**2).mean(axis=1))
    bias_b = boot.mean(axis=1)
    return Row(
        engine=name,
        rmse=float(np.sqrt((err**2).mean())),
        rmse_lo=float(np.percentile(rmse_b, 2.5)),
        rmse_hi=float(np.percentile(rmse_b, 97.5)),
        bias=float(err.mean()),
        bias_lo=float(np.percentile(bias_b, 2.5)),
        bias_hi=float(np.percentile(bias_b, 97.5)),
        mean_len=float(lengths.mean()),
        at_max=float((lengths >= MAX_ITEMS).mean()),
        max_exposure=float(counts.max() / truth.size),
        sel_us_median=statistics.median(sel_ns) / 1e3,
        note=note,
    )


def run_ours(
    bank: ItemBank,
    truth: FloatArray,
    draws: FloatArray,
    seed: int,
    top_k: int,
    r_max: float | None,
    se_stop: float = SE_STOP,
) -> tuple[FloatArray, FloatArray, FloatArray, list[int]]:
    cat = CatBank(bank)
    rng = np.random.default_rng(seed)
    exposure = ExposureControl(len(bank), r_max=r_max)
    est = np.empty_like(truth)
    lengths = np.empty_like(truth)
    sel_ns: list[int] = []
    clock = time.perf_counter_ns
    for s, theta in enumerate(truth):
        engine = CatEngine(
            cat, rng, top_k=top_k, se_stop=se_stop, max_items=MAX_ITEMS, exposure=exposure
        )
        while True:
            t0 = clock()
            item = engine.next_item()
            sel_ns.append(clock() - t0)
            if item is None:
                break
            p = prob(theta, bank.a[item], bank.b[item], bank.c[item])
            engine.update(item, bool(draws[s, item] < p))
        est[s] = engine.theta
        lengths[s] = len(engine.items)
    return est, lengths, exposure.counts.astype(np.float64), sel_ns


def time_10k(seed: int, top_k: int, r_max: float | None) -> float:
    """Median µs per next_item on a 10,000-item bank, over 200 attempts of up to 15 items."""
    rng = np.random.default_rng(seed)
    bank = make_bank(rng, 10_000)
    cat = CatBank(bank)
    exposure = ExposureControl(len(bank), r_max=r_max)
    sel_ns: list[int] = []
    clock = time.perf_counter_ns
    for theta in rng.normal(0.0, 1.0, 200):
        engine = CatEngine(cat, rng, top_k=top_k, max_items=15, exposure=exposure)
        while True:
            t0 = clock()
            item = engine.next_item()
            sel_ns.append(clock() - t0)
            if item is None:
                break
            p = prob(theta, bank.a[item], bank.b[item], bank.c[item])
            engine.update(item, bool(rng.random() < p))
    return statistics.median(sel_ns) / 1e3


def run_catsim(
    bank: ItemBank, truth: FloatArray, draws: FloatArray, selector_factory: Callable[[], Any]
) -> tuple[FloatArray, FloatArray, FloatArray, list[int]]:
    """catsim's own estimator (bounded MLE with Dodd's heuristic) and selector, driven by hand.

    catsim's logistic has no D, so its discrimination is D·a.
    """
    from catsim import irt as cirt
    from catsim.estimation.numerical import NumericalSearchEstimator
    from catsim.item_bank import ItemBank as CsBank

    params = np.column_stack([D * bank.a, bank.b, bank.c, np.ones(len(bank))])
    cbank = CsBank(params)
    estimator = NumericalSearchEstimator()
    selector = selector_factory()
    sel_rng = np.random.default_rng(0)
    counts = np.zeros(len(bank))
    est = np.empty_like(truth)
    lengths = np.empty_like(truth)
    sel_ns: list[int] = []
    clock = time.perf_counter_ns
    for s, theta in enumerate(truth):
        administered: list[int] = []
        answers: list[bool] = []
        est_theta = 0.0
        while len(administered) < MAX_ITEMS:
            t0 = clock()
            item = selector.select(
                item_bank=cbank,
                administered_items=administered,
                est_theta=est_theta,
                rng=sel_rng,
            )
            sel_ns.append(clock() - t0)
            if item is None:
                break
            item = int(item)
            counts[item] += 1
            p = prob(theta, bank.a[item], bank.b[item], bank.c[item])
            administered.append(item)
            answers.append(bool(draws[s, item] < p))
            est_theta = float(
                estimator.estimate(
                    item_bank=cbank,
                    administered_items=administered,
                    response_vector=answers,
                    est_theta=est_theta,
                )
            )
            if cirt.see(est_theta, cbank.items[administered]) < SE_STOP:
                break
        est[s] = est_theta
        lengths[s] = len(administered)
    return est, lengths, counts, sel_ns


def run_peer(
    name: str,
    run: Callable[[], tuple[FloatArray, FloatArray, FloatArray, list[int]]],
    truth: FloatArray,
    boot_rng: np.random.Generator,
    note: str = "",
) -> tuple[list[Row], list[str]]:
    """One peer configuration; a peer failing must not hide our numbers."""
    try:
        est, lengths, counts, sel = run()
    except Exception as exc:
        return [], [f"{name}: failed ({type(exc).__name__}: {exc})"]
    return [summarise(name, truth, est, lengths, counts, sel, boot_rng, note)], []


def catsim_rows(
    bank: ItemBank, truth: FloatArray, draws: FloatArray, boot_rng: np.random.Generator
) -> tuple[list[Row], list[str]]:
    try:
        from catsim.selection.random import RandomesqueSelector
        from catsim.selection.selection import MaxInfoSelector
    except ImportError as exc:
        return [], [f"catsim: not installed ({exc}); pip install -e '.[bench]'"]
    peers: list[tuple[str, Callable[[], Any]]] = [
        ("catsim: max info", MaxInfoSelector),
        ("catsim: randomesque 20", lambda: RandomesqueSelector(20)),
    ]
    rows: list[Row] = []
    skipped: list[str] = []
    for name, factory in peers:
        got, why = run_peer(name, partial(run_catsim, bank, truth, draws, factory), truth, boot_rng)
        rows += got
        skipped += why
    return rows, skipped


def mirt_model(bank: ItemBank) -> Any:
    """A mirt 3PL model holding the bank's parameters.

    mirt's CAT engine takes only fitted models; a fit with every parameter held fixed is its
    public way to make one from known parameters (two dummy rows give it data to "fit").
    mirt's logistic has no D, so its discrimination is D·a.
    """
    import mirt

    dummy = np.tile(np.array([[0.0], [1.0]]), (1, len(bank)))
    fit = mirt.fit_mirt(
        dummy,
        model="3PL",
        start_values={"discrimination": D * bank.a, "difficulty": bank.b, "guessing": bank.c},
        fixed={"discrimination": True, "difficulty": True, "guessing": True},
        max_iter=1,
        compute_standard_errors=False,
    )
    held = fit.model.parameters
    if not np.allclose(held["discrimination"], D * bank.a) or not np.allclose(
        held["guessing"], bank.c
    ):
        raise RuntimeError("mirt changed parameters that were meant to be held fixed")
    return fit.model


def run_mirt(
    model: Any,
    bank: ItemBank,
    truth: FloatArray,
    draws: FloatArray,
    exposure_factory: Callable[[], Any],
) -> tuple[FloatArray, FloatArray, FloatArray, list[int]]:
    """mirt's CATEngine: maximum Fisher information, EAP on 61 points, from θ = 0.

    The time recorded per step is ``administer_item`` (EAP update, then the next selection) and
    the first ``get_current_state`` (selection alone).
    """
    from mirt.cat import CATEngine

    exposure = exposure_factory()
    counts = np.zeros(len(bank))
    est = np.empty_like(truth)
    lengths = np.empty_like(truth)
    step_ns: list[int] = []
    clock = time.perf_counter_ns
    for s, theta in enumerate(truth):
        engine = CATEngine(
            model,
            item_selection="MFI",
            scoring_method="EAP",
            se_threshold=SE_STOP,
            max_items=MAX_ITEMS,
            exposure_control=exposure,
            n_quadpts=61,
            seed=s,
        )
        t0 = clock()
        state = engine.get_current_state()
        step_ns.append(clock() - t0)
        while not state.is_complete and state.next_item is not None:
            item = int(state.next_item)
            counts[item] += 1
            p = prob(theta, bank.a[item], bank.b[item], bank.c[item])
            t0 = clock()
            state = engine.administer_item(int(draws[s, item] < p))
            step_ns.append(clock() - t0)
        est[s] = state.theta
        lengths[s] = state.n_items
    return est, lengths, counts, step_ns


def mirt_rows(
    bank: ItemBank, truth: FloatArray, draws: FloatArray, boot_rng: np.random.Generator
) -> tuple[list[Row], list[str]]:
    try:
        from mirt.cat.exposure import Randomesque
    except ImportError as exc:
        return [], [f"mirt: not installed ({exc}); pip install -e '.[bench]'"]
    try:
        model = mirt_model(bank)
    except Exception as exc:
        return [], [f"mirt: could not load the bank ({type(exc).__name__}: {exc})"]
    peers: list[tuple[str, Callable[[], Any]]] = [
        ("mirt: max info", lambda: None),
        ("mirt: randomesque 20", lambda: Randomesque(20, seed=0)),
    ]
    note = "sel µs is EAP update + selection per step"
    rows: list[Row] = []
    skipped: list[str] = []
    for name, factory in peers:
        got, why = run_peer(
            name,
            partial(run_mirt, model, bank, truth, draws, factory),
            truth,
            boot_rng,
            note,
        )
        rows += got
        skipped += why
    return rows, skipped


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examinees", type=int, default=1000)
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    bank = make_bank(rng, args.items)
    truth = rng.normal(0.0, 1.0, args.examinees)
    draws = rng.random((args.examinees, args.items))
    boot_rng = np.random.default_rng(args.seed + 1)
    info0 = information(0.0, bank.a, bank.b, bank.c)

    rows: list[Row] = []
    skipped: list[str] = []
    # The last row stops at SE < 0.29: the same engine at the peers' randomesque length, for a
    # comparison of accuracy at equal length.
    ours = [
        ("ours: max info, no control", 1, None, SE_STOP),
        ("ours: randomesque top 20", 20, None, SE_STOP),
        ("ours: r_max 0.2 + top 3", 3, 0.2, SE_STOP),
        ("ours: as above, SE < 0.29", 3, 0.2, 0.29),
    ]
    for name, top_k, r_max, se_stop in ours:
        est, lengths, counts, sel = run_ours(
            bank, truth, draws, args.seed + 2, top_k, r_max, se_stop
        )
        row = summarise(name, truth, est, lengths, counts, sel, boot_rng)
        row.sel_us_10k = time_10k(args.seed + 3, top_k, r_max)
        rows.append(row)

    if not args.no_peers:
        for peer in (catsim_rows, mirt_rows):
            peer_rows, peer_skipped = peer(bank, truth, draws, boot_rng)
            rows.extend(peer_rows)
            skipped.extend(peer_skipped)

    meta = {
        "examinees": args.examinees,
        "items": args.items,
        "seed": args.seed,
        "se_stop": SE_STOP,
        "max_items": MAX_ITEMS,
        "bank_max_info_at_0": float(info0.max()),
        "targets": TARGETS,
    }
    if args.json:
        print(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows], "skipped": skipped}))
        return 0
    head = (
        f"{'engine':<28} {'RMSE [95% CI]':<21} {'bias [95% CI]':<24} {'len':>5} "
        f"{'@50':>6} {'maxexp':>6} {'sel µs':>7} {'sel µs 10k':>10}"
    )
    print(
        f"{args.examinees} simulees, {args.items}-item 3PL bank, seed {args.seed}, "
        f"SE < {SE_STOP} or {MAX_ITEMS} items"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        t10k = f"{r.sel_us_10k:10.1f}" if r.sel_us_10k is not None else f"{'-':>10}"
        print(
            f"{r.engine:<28} {r.rmse:.3f} [{r.rmse_lo:.3f},{r.rmse_hi:.3f}]  "
            f"{r.bias:+.3f} [{r.bias_lo:+.3f},{r.bias_hi:+.3f}]  {r.mean_len:5.1f} "
            f"{r.at_max:6.1%} {r.max_exposure:6.3f} {r.sel_us_median:7.1f} {t10k}"
        )
    for r in rows:
        if r.note:
            print(f"note: {r.engine}: {r.note}")
    for s in skipped:
        print(f"skipped: {s}")
    print(
        "targets: RMSE <= 0.30, mean length <= 15, <= 1% at 50 items, max exposure <= 0.25, "
        "selection < 1000 µs at 10k items"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
