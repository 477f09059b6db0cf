"""Simulated students sitting a CAT together (pure, seeded): how exposure control treats the
first students of a class against the last. Used by tests/test_cat_class.py and
loadtest/class_bench.py, so both measure the same thing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hub.exams.cat import CatBank, CatEngine, ExposureControl
from hub.exams.irt import FloatArray, ItemBank, prob


@dataclass(frozen=True)
class ClassRun:
    """Per student, in the order they started, and the class's most exposed item."""

    squared_errors: FloatArray
    lengths: FloatArray
    standard_errors: FloatArray
    max_exposure: float


def random_bank(rng: np.random.Generator, size: int) -> ItemBank:
    """3PL items: a ~ LogNormal(0, 0.3), b ~ N(0, 1), c ~ U(0.10, 0.25)."""
    return ItemBank.from_params(
        rng.lognormal(0.0, 0.3, size), rng.normal(0.0, 1.0, size), rng.uniform(0.1, 0.25, size)
    )


def sit_class(
    rng: np.random.Generator,
    bank: ItemBank,
    truth: FloatArray,
    draws: FloatArray,
    exposure: ExposureControl,
    *,
    together: bool,
) -> ClassRun:
    """Student s (true ability truth[s]) answers item i right when draws[s, i] < P(θ, i).
    One after another, or all started at once and answering in turn; each test stops at
    SE < 0.3 or 50 items, top_k 3, sharing `exposure`."""
    cat = CatBank(bank)

    def engine() -> CatEngine:
        return CatEngine(cat, rng, top_k=3, se_stop=0.3, max_items=50, exposure=exposure)

    def answer(student: int, e: CatEngine, item: int) -> None:
        p = prob(truth[student], bank.a[item], bank.b[item], bank.c[item])
        e.update(item, bool(draws[student, item] < p))

    if together:
        engines = [engine() for _ in range(len(truth))]
        while not all(e.done for e in engines):
            for s, e in enumerate(engines):
                if (item := e.next_item()) is not None:
                    answer(s, e, item)
    else:
        engines = []
        for s in range(len(truth)):
            e = engine()
            while (item := e.next_item()) is not None:
                answer(s, e, item)
            engines.append(e)
    theta = np.asarray([e.theta for e in engines])
    return ClassRun(
        (theta - truth) ** 2,
        np.asarray([len(e.items) for e in engines], dtype=np.float64),
        np.asarray([e.se for e in engines], dtype=np.float64),
        float(exposure.rates().max()),
    )
