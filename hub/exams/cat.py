"""Computerized adaptive testing engine: pure code, no I/O.

One :class:`CatEngine` runs one attempt. Ability is estimated by EAP with a N(0, 1) prior on a
fixed quadrature grid, kept as a posterior vector that each answer multiplies by the item's
likelihood, so an update is O(grid). The next item has maximum Fisher information at the
current θ (read from an items × grid table precomputed once per bank by :class:`CatBank`),
never repeats, and can be restricted by

* randomesque selection: a uniform pick among the ``top_k`` most informative items;
* exposure control (:class:`ExposureControl`, shared by every attempt on a bank): an item whose
  exposure rate has reached ``r_max`` is not eligible (the "restricted" method of Revuelta and
  Ponsoda), with the rate smoothed by pseudo-attempts so that it works from the first attempt;
  the maximum exposure rate stays about ``r_max``;
* content balancing: target shares per content area; each pick comes from the area furthest
  below its target (Kingsbury and Zara).

The test stops when SE < ``se_stop`` or after ``max_items`` answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hub.exams.irt import (
    BoolArray,
    FloatArray,
    ItemBank,
    eap_from_posterior,
    grid_matrix,
    mle,
    normal_prior,
    quadrature_grid,
)

IntArray = npt.NDArray[np.int64]


class CatBank:
    """A bank with its per-grid tables: build once per bank version and share across attempts."""

    def __init__(self, bank: ItemBank, grid: FloatArray | None = None) -> None:
        self.bank = bank
        self.grid: FloatArray = quadrature_grid() if grid is None else np.asarray(grid, float)
        if self.grid.ndim != 1 or self.grid.size < 3 or np.any(np.diff(self.grid) <= 0):
            raise ValueError("grid must be 1-D, increasing, with at least 3 points")
        self.prior: FloatArray = normal_prior(self.grid)
        # (grid, items), grid-major: P[:, i] for updates, info[j] for selection.
        self.p, self.info = grid_matrix(bank, self.grid)
        self.q: FloatArray = 1.0 - self.p
        self._uniform = bool(np.allclose(np.diff(self.grid), self.grid[1] - self.grid[0]))
        self._lo = float(self.grid[0])
        self._step = float(self.grid[1] - self.grid[0])
        areas = bank.area
        self.area_names: tuple[str, ...] = () if areas is None else tuple(sorted(set(areas)))
        lookup = {name: k for k, name in enumerate(self.area_names)}
        self.area_code: IntArray = np.asarray(
            [lookup[x] for x in areas] if areas is not None else [], dtype=np.int64
        )

    def __len__(self) -> int:
        return len(self.bank)

    def nearest(self, theta: float) -> int:
        """Index of the grid point nearest θ."""
        if self._uniform:
            j = round((theta - self._lo) / self._step)
            return min(max(j, 0), self.grid.size - 1)
        return int(np.abs(self.grid - theta).argmin())


@dataclass
class ExposureControl:
    """Exposure counts shared by all attempts on one bank (keep one per bank version).

    The restricted method (Revuelta & Ponsoda, 1998, "A comparison of item exposure control
    methods in computerized adaptive testing", J. Educ. Meas. 35(4), 311-327) makes an item
    ineligible once its exposure rate reaches ``r_max``. Its raw rate ``count / attempts`` is
    useless for a small group: with r_max = 0.2 and two attempts, an item seen once has rate
    0.5, so the second student of a class only gets what the first did not see, and the best
    items stay locked until the fifth. We estimate the rate with additive smoothing instead
    (a Beta(0, m) prior: ``warmup`` = m pseudo-attempts in which the item was not shown,
    Lidstone's pseudo-counts), ``count / (attempts + m)``, and cap that: an item is eligible
    while ``count < r_max · (attempts + m)``. With the default m = 1 / r_max this grants every
    item one exposure beyond its share, so the first students of a class are served as well as
    the later ones (tests/test_cat_class.py), and the rate stays below
    ``r_max + 1/attempts``, which tends to ``r_max``. ``r_max=None`` only counts.
    """

    n_items: int
    r_max: float | None = 0.2
    warmup: float | None = None
    counts: IntArray = field(init=False)
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.r_max is not None and not 0.0 < self.r_max <= 1.0:
            raise ValueError("r_max must lie in (0, 1]")
        if self.warmup is not None and self.warmup < 0:
            raise ValueError("warmup must not be negative")
        self.counts = np.zeros(self.n_items, dtype=np.int64)

    @property
    def pseudo_attempts(self) -> float:
        """m, the smoothing prior's weight (1 / r_max unless set)."""
        if self.warmup is not None:
            return self.warmup
        return 0.0 if self.r_max is None else 1.0 / self.r_max

    def start_attempt(self) -> None:
        self.attempts += 1

    def record(self, item: int) -> None:
        self.counts[item] += 1

    def eligible(self) -> BoolArray | None:
        """Mask of items below the cap, or None when nothing is capped."""
        if self.r_max is None:
            return None
        cap = self.r_max * (max(self.attempts, 1) + self.pseudo_attempts)
        out: BoolArray = self.counts < cap - 1e-9
        return out

    def rates(self) -> FloatArray:
        out: FloatArray = self.counts / max(self.attempts, 1)
        return out


class CatEngine:
    """State of one adaptive attempt: the posterior over the grid and the items given."""

    def __init__(
        self,
        bank: ItemBank | CatBank,
        rng: np.random.Generator,
        top_k: int = 1,
        se_stop: float = 0.3,
        max_items: int = 50,
        content_balance: Mapping[str, float] | None = None,
        exposure: ExposureControl | None = None,
        min_items: int = 1,
    ) -> None:
        self.cat = bank if isinstance(bank, CatBank) else CatBank(bank)
        n = len(self.cat)
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        if se_stop <= 0 or max_items < 1 or min_items < 0:
            raise ValueError("se_stop must be positive, max_items ≥ 1 and min_items ≥ 0")
        if exposure is not None and exposure.n_items != n:
            raise ValueError("exposure control is for a bank of another size")
        self.rng = rng
        self.top_k = top_k
        self.se_stop = se_stop
        self.max_items = min(max_items, n)
        self.min_items = min_items
        self.exposure = exposure
        self._targets: FloatArray | None = None
        if content_balance is not None:
            if not self.cat.area_names:
                raise ValueError("content balancing needs a bank with content areas")
            unknown = set(content_balance) - set(self.cat.area_names)
            if unknown:
                raise ValueError(f"unknown content areas: {sorted(unknown)}")
            t = np.asarray([max(content_balance.get(a, 0.0), 0.0) for a in self.cat.area_names])
            if t.sum() <= 0:
                raise ValueError("content targets must have a positive sum")
            self._targets = t / t.sum()
        self._reset()
        if exposure is not None:
            exposure.start_attempt()

    def _reset(self) -> None:
        self.post: FloatArray = self.cat.prior.copy()
        self.theta, self.se = eap_from_posterior(self.cat.grid, self.post)
        self.items: list[int] = []
        self.answers: list[bool] = []
        self.pending: int | None = None
        self._available: BoolArray = np.ones(len(self.cat), dtype=np.bool_)
        self._area_counts: IntArray = np.zeros(len(self.cat.area_names), dtype=np.int64)

    @property
    def done(self) -> bool:
        """True when SE < se_stop (after min_items answers) or max_items were answered."""
        n = len(self.items)
        return n >= self.max_items or (n >= self.min_items and self.se < self.se_stop)

    def restore(self, responses: Sequence[tuple[int, bool]]) -> None:
        """Rebuild the state from stored (item, correct) answers (exposure is not re-counted)."""
        self._reset()
        for item, correct in responses:
            self._apply(item, correct)
        self.theta, self.se = eap_from_posterior(self.cat.grid, self.post)

    def resume(self, responses: Sequence[tuple[int, bool]], posterior: FloatArray) -> None:
        """Rebuild the state from stored answers whose likelihood is already in `posterior`.

        For answers scored with the parameters of their time: a recalibration of the bank
        since then must not rewrite an attempt's past (see hub/exams/adaptive.py).
        """
        post = np.asarray(posterior, dtype=np.float64)
        if post.shape != self.cat.grid.shape or not np.isfinite(post).all() or post.sum() <= 0:
            raise ValueError("posterior must be positive weights on this bank's grid")
        self._reset()
        for item, correct in responses:
            self._mark(item, correct)
        self.post = post / post.sum()
        self.theta, self.se = eap_from_posterior(self.cat.grid, self.post)

    def next_item(self, responses: Sequence[tuple[int, bool]] | None = None) -> int | None:
        """Index of the next item, or None when the test is over.

        With ``responses`` the state is first rebuilt from them. Asking again before the
        answer returns the same item.
        """
        if responses is not None:
            self.restore(responses)
        if self.pending is not None:
            return self.pending
        if self.done:
            return None
        mask = self._available
        if self.exposure is not None:
            capped = self.exposure.eligible()
            if capped is not None:
                both = mask & capped
                if both.any():
                    mask = both
        if self._targets is not None:
            mask = self._balance(mask, self._targets)
        row = self.cat.info[self.cat.nearest(self.theta)]
        scores = np.where(mask, row, -np.inf)
        k = min(self.top_k, int(mask.sum()))
        if k <= 0:
            return None
        if k == 1:
            item = int(np.argmax(scores))
        else:
            top = np.argpartition(scores, -k)[-k:]
            item = int(top[self.rng.integers(k)])
        self.pending = item
        if self.exposure is not None:
            self.exposure.record(item)
        return item

    def _balance(self, mask: BoolArray, targets: FloatArray) -> BoolArray:
        """Restrict to the content area furthest below its target share."""
        codes = self.cat.area_code
        has = np.bincount(codes[mask], minlength=targets.size) > 0
        if not has.any():
            return mask
        given = len(self.items)
        share = self._area_counts / given if given else np.zeros_like(targets)
        deficit = np.where(has & (targets > 0), targets - share, -np.inf)
        if not np.isfinite(deficit).any():
            return mask
        area = int(np.argmax(deficit))
        out: BoolArray = mask & (codes == area)
        return out

    def _apply(self, item: int, correct: bool) -> None:
        self._mark(item, correct)
        like = self.cat.p[:, item] if correct else self.cat.q[:, item]
        post = self.post * like
        self.post = post / post.sum()

    def _mark(self, item: int, correct: bool) -> None:
        """Count the answer (never the same item twice; content areas) without its likelihood."""
        if not 0 <= item < len(self.cat):
            raise ValueError(f"no item {item} in this bank")
        if not self._available[item]:
            raise ValueError(f"item {item} was already answered")
        self._available[item] = False
        self.items.append(item)
        self.answers.append(bool(correct))
        if self._area_counts.size:
            self._area_counts[self.cat.area_code[item]] += 1

    def update(self, item: int, correct: bool) -> tuple[float, float]:
        """Record an answer and recompute the EAP θ and its SE; returns (θ, SE)."""
        self._apply(item, correct)
        self.pending = None
        self.theta, self.se = eap_from_posterior(self.cat.grid, self.post)
        return self.theta, self.se

    def mle(self) -> tuple[float, float]:
        """Maximum-likelihood θ and SE from the answers so far."""
        return mle(self.cat.bank, self.items, self.answers)
