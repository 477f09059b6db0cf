"""Item response theory maths for the CAT engine: pure functions, no I/O.

The three-parameter logistic model (3PL) with the scaling constant D = 1.702::

    P(θ) = c + (1 − c) / (1 + exp(−D·a·(θ − b)))

2PL is c = 0, 1PL (Rasch-like) is additionally a = 1. Every function is vectorised over
items (and, where it says so, over a grid of θ values) with numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

D = 1.702
"""Scaling constant that makes the logistic curve close to the normal ogive."""

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ArrayLike = npt.ArrayLike

# Probabilities are clipped into [EPS, 1 − EPS] wherever a log or a division needs it.
EPS = 1e-12


@dataclass(frozen=True)
class ItemBank:
    """Item parameters of a calibrated bank: discrimination a, difficulty b, guessing c.

    ``area`` optionally names each item's content area (for content balancing).
    """

    a: FloatArray
    b: FloatArray
    c: FloatArray
    area: tuple[str, ...] | None = None
    _n: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        a = np.ascontiguousarray(self.a, dtype=np.float64)
        b = np.ascontiguousarray(self.b, dtype=np.float64)
        c = np.ascontiguousarray(self.c, dtype=np.float64)
        if not (a.ndim == b.ndim == c.ndim == 1 and a.shape == b.shape == c.shape):
            raise ValueError("a, b and c must be 1-D arrays of the same length")
        if a.size == 0:
            raise ValueError("an item bank needs at least one item")
        if np.any(a <= 0) or not np.all(np.isfinite(a)) or not np.all(np.isfinite(b)):
            raise ValueError("a must be positive and a, b finite")
        if np.any(c < 0) or np.any(c >= 1):
            raise ValueError("c must lie in [0, 1)")
        if self.area is not None and len(self.area) != a.size:
            raise ValueError("area must name one content area per item")
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "c", c)
        object.__setattr__(self, "_n", int(a.size))

    def __len__(self) -> int:
        return self._n

    @classmethod
    def from_params(
        cls,
        a: ArrayLike,
        b: ArrayLike,
        c: ArrayLike | None = None,
        area: Sequence[str] | None = None,
    ) -> ItemBank:
        """Build a bank from array-likes; c defaults to 0 (2PL)."""
        b_arr = np.asarray(b, dtype=np.float64)
        c_arr = np.zeros_like(b_arr) if c is None else np.asarray(c, dtype=np.float64)
        return cls(
            a=np.asarray(a, dtype=np.float64),
            b=b_arr,
            c=c_arr,
            area=None if area is None else tuple(area),
        )


def prob(theta: ArrayLike, a: ArrayLike, b: ArrayLike, c: ArrayLike = 0.0) -> FloatArray:
    """3PL probability of a correct answer; broadcasts θ against the item parameters."""
    th = np.asarray(theta, dtype=np.float64)
    a_ = np.asarray(a, dtype=np.float64)
    b_ = np.asarray(b, dtype=np.float64)
    c_ = np.asarray(c, dtype=np.float64)
    z = np.clip(D * a_ * (th - b_), -50.0, 50.0)
    out: FloatArray = c_ + (1.0 - c_) / (1.0 + np.exp(-z))
    return out


def information(theta: ArrayLike, a: ArrayLike, b: ArrayLike, c: ArrayLike = 0.0) -> FloatArray:
    """Fisher information of 3PL items: D²a² · ((P − c)² / (1 − c)²) · ((1 − P) / P)."""
    a_ = np.asarray(a, dtype=np.float64)
    c_ = np.asarray(c, dtype=np.float64)
    p = prob(theta, a_, b, c_)
    p_safe = np.clip(p, EPS, 1.0)
    out: FloatArray = (D * a_) ** 2 * ((p - c_) ** 2 / (1.0 - c_) ** 2) * ((1.0 - p) / p_safe)
    return out


def grid_matrix(bank: ItemBank, grid: FloatArray) -> tuple[FloatArray, FloatArray]:
    """P and information for every (grid point, item): two arrays of shape (len(grid), items).

    Grid-major so that the information of all items at one θ is one contiguous row.
    """
    g = np.asarray(grid, dtype=np.float64)[:, None]
    p = prob(g, bank.a[None, :], bank.b[None, :], bank.c[None, :])
    info = information(g, bank.a[None, :], bank.b[None, :], bank.c[None, :])
    return np.ascontiguousarray(p), np.ascontiguousarray(info)


def quadrature_grid(points: int = 61, lo: float = -4.0, hi: float = 4.0) -> FloatArray:
    """Equally spaced θ grid for EAP quadrature."""
    if points < 3 or not lo < hi:
        raise ValueError("need at least 3 points and lo < hi")
    return np.linspace(lo, hi, points, dtype=np.float64)


def normal_prior(grid: FloatArray, mean: float = 0.0, sd: float = 1.0) -> FloatArray:
    """Normal prior density on the grid, normalised to sum to 1."""
    w = np.exp(-0.5 * ((grid - mean) / sd) ** 2)
    out: FloatArray = w / w.sum()
    return out


def _as_responses(
    items: ArrayLike, responses: ArrayLike
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    idx = np.asarray(items, dtype=np.intp).reshape(-1)
    u = np.asarray(responses, dtype=np.float64).reshape(-1)
    if idx.shape != u.shape:
        raise ValueError("items and responses must have the same length")
    if np.any((u != 0.0) & (u != 1.0)):
        raise ValueError("responses must be 0/1 (or booleans)")
    return idx, u


def posterior(
    bank: ItemBank,
    items: ArrayLike,
    responses: ArrayLike,
    grid: FloatArray,
    prior: FloatArray | None = None,
) -> FloatArray:
    """Posterior weights over the grid (summing to 1) after the given answers."""
    idx, u = _as_responses(items, responses)
    w = normal_prior(grid) if prior is None else np.asarray(prior, dtype=np.float64)
    if idx.size == 0:
        out0: FloatArray = w / w.sum()
        return out0
    p = prob(grid[:, None], bank.a[idx][None, :], bank.b[idx][None, :], bank.c[idx][None, :])
    p = np.clip(p, EPS, 1.0 - EPS)
    loglik = (u * np.log(p) + (1.0 - u) * np.log1p(-p)).sum(axis=1)
    logpost = loglik + np.log(np.clip(w, 1e-300, None))
    logpost -= logpost.max()
    post = np.exp(logpost)
    out: FloatArray = post / post.sum()
    return out


def eap_from_posterior(grid: FloatArray, post: FloatArray) -> tuple[float, float]:
    """Posterior mean and posterior SD of θ from grid weights that sum to 1."""
    theta = float(grid @ post)
    var = float(((grid - theta) ** 2) @ post)
    return theta, float(np.sqrt(max(var, 0.0)))


def eap(
    bank: ItemBank,
    items: ArrayLike,
    responses: ArrayLike,
    grid: FloatArray | None = None,
    prior: FloatArray | None = None,
) -> tuple[float, float]:
    """EAP estimate of θ with a N(0, 1) prior (or ``prior``): returns (θ, SE = posterior SD)."""
    g = quadrature_grid() if grid is None else grid
    return eap_from_posterior(g, posterior(bank, items, responses, g, prior))


def log_likelihood(
    theta: ArrayLike, bank: ItemBank, items: ArrayLike, responses: ArrayLike
) -> FloatArray:
    """Log-likelihood of the answers at each θ (θ may be an array)."""
    idx, u = _as_responses(items, responses)
    th = np.asarray(theta, dtype=np.float64)[..., None]
    p = np.clip(prob(th, bank.a[idx], bank.b[idx], bank.c[idx]), EPS, 1.0 - EPS)
    out: FloatArray = (u * np.log(p) + (1.0 - u) * np.log1p(-p)).sum(axis=-1)
    return out


def mle(
    bank: ItemBank,
    items: ArrayLike,
    responses: ArrayLike,
    lo: float = -4.0,
    hi: float = 4.0,
    tol: float = 1e-8,
    max_iter: int = 50,
) -> tuple[float, float]:
    """Maximum-likelihood θ by Newton–Raphson (Fisher scoring) within [lo, hi]: (θ, SE).

    The start is the best point of a coarse grid (the 3PL likelihood can have several local
    maxima); steps are clipped to the bounds. All-correct or all-wrong patterns have no finite
    MLE and end at a bound. SE = 1 / sqrt(test information at θ̂) (inf when it is zero).
    """
    idx, u = _as_responses(items, responses)
    if idx.size == 0:
        raise ValueError("MLE needs at least one answer")
    a, b, c = bank.a[idx], bank.b[idx], bank.c[idx]
    coarse = np.linspace(lo, hi, 81)
    theta = float(coarse[int(np.argmax(log_likelihood(coarse, bank, idx, u)))])
    for _ in range(max_iter):
        p = np.clip(prob(theta, a, b, c), EPS, 1.0 - EPS)
        # dlogL/dθ = Σ D·a·(u − P)·(P − c) / (P·(1 − c))
        score = float(np.sum(D * a * (u - p) * (p - c) / (p * (1.0 - c))))
        info = float(np.sum(information(theta, a, b, c)))
        if info <= 0.0:
            break
        new = min(max(theta + score / info, lo), hi)
        if abs(new - theta) < tol:
            theta = new
            break
        theta = new
    total = float(np.sum(information(theta, a, b, c)))
    se = float(1.0 / np.sqrt(total)) if total > 0 else float("inf")
    return theta, se
