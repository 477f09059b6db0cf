"""Item calibration by marginal maximum likelihood, and drift between calibrations: pure, no I/O.

The estimation itself is the PyPI package ``mirt`` (Bock–Aitkin EM over Gauss–Hermite
quadrature with a N(0, 1) ability distribution, Rust-accelerated). It was chosen over writing
our own EM because it holds up where it matters for CAT data: responses missing by design
(``NaN``) are supported, it reproduces R mirt's published LSAT7 estimates (with and without
missing cells), and it takes Beta priors on the guessing parameter. This module only
translates: the D = 1.702 metric of :mod:`hub.exams.irt`, our meaning of 1PL, and a small
:class:`Calibration` record. ``girth`` (last release 2021) gets the LSAT7 2PL right, but its
3PL crashes under numpy 2, it has no prior on c and no convergence report, and it is ~20×
slower on sparse data; ``py-irt`` is variational Bayes on torch/pyro and caps Python below
3.12.

Parameters from two calibrations are only comparable when both are on one θ scale. Each call
fixes the scale by assuming θ ~ N(0, 1) in the calibration sample, so calibrations of
different populations must be linked (:func:`stocking_lord`, :func:`rescale`) before
:func:`drift` is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import mirt
import numpy as np
import numpy.typing as npt
from mirt.estimation.priors import BetaPrior
from scipy.optimize import least_squares  # type: ignore[import-untyped]

from hub.exams.irt import D, FloatArray, normal_prior, prob, quadrature_grid

Model = Literal["1pl", "2pl", "3pl"]
IntArray = npt.NDArray[np.int64]

BILOG_PRIOR_C = (5.0, 17.0)
"""Beta(α, β) prior on c: BILOG-MG's default for five-option items, α = 20·(1/5) + 1 and
β = 20·(4/5) + 1 (mode 0.2). 3PL guessing is poorly identified without one, above all for
easy items, whose low-ability tail is rarely observed."""


class ItemParams(Protocol):
    """Anything with 3PL parameter arrays on the D = 1.702 metric (ItemBank, Calibration)."""

    @property
    def a(self) -> FloatArray: ...

    @property
    def b(self) -> FloatArray: ...

    @property
    def c(self) -> FloatArray: ...


@dataclass(frozen=True, eq=False)
class Calibration:
    """Estimated item parameters on the D = 1.702 metric, with how the estimation went.

    ``n`` counts the responses each item had. Items without any have NaN parameters.
    ``log_likelihood`` is the marginal log-likelihood at the estimates (for 3PL with a prior on
    c, the estimates maximise the posterior instead, so it is not the maximum).
    """

    model: Model
    a: FloatArray
    b: FloatArray
    c: FloatArray
    n: IntArray
    converged: bool
    iterations: int
    log_likelihood: float


def _validated(responses: npt.ArrayLike) -> FloatArray:
    u = np.asarray(responses, dtype=np.float64)
    if u.ndim != 2:
        raise ValueError(f"responses must be a 2-D (persons × items) array, got {u.ndim}-D")
    seen = u[~np.isnan(u)]
    if np.any((seen != 0.0) & (seen != 1.0)):
        raise ValueError("responses must be 1.0, 0.0 or NaN (not presented)")
    return u


def calibrate(
    responses: npt.ArrayLike,
    model: Model = "2pl",
    *,
    prior_c: tuple[float, float] | None = BILOG_PRIOR_C,
    quadrature_points: int = 41,
    max_iter: int = 500,
    tol: float = 1e-5,
) -> Calibration:
    """Estimate item parameters from a persons × items matrix of 1.0 / 0.0 / NaN.

    ``"1pl"`` estimates one discrimination shared by all items (mirt's
    ``CONSTRAIN = (1-n, a1)``), which is the Rasch model with the ability variance estimated
    rather than assumed: fixing a = 1 would force a slope of D on every bank. ``prior_c`` is
    the Beta(α, β) prior on c for ``"3pl"`` (None: plain maximum likelihood). ``tol`` is the
    EM stopping rule on the largest parameter change; mirt's default 1e-4 stops visibly short
    of the optimum on LSAT7 (slope of item 3: 1.700 against 1.708).
    """
    if model not in ("1pl", "2pl", "3pl"):
        raise ValueError(f"model must be '1pl', '2pl' or '3pl', got {model!r}")
    if prior_c is not None and min(prior_c) <= 0:
        raise ValueError(f"prior_c must be two positive Beta parameters, got {prior_c}")
    u = _validated(responses)
    n = np.sum(~np.isnan(u), axis=0).astype(np.int64)
    seen = n > 0
    if int(seen.sum()) < 2:
        raise ValueError("calibration needs responses to at least 2 items")
    data = u[:, seen]
    data = data[~np.all(np.isnan(data), axis=1)]

    options: dict[str, Any] = {}
    if model == "1pl":
        options["constraints"] = [{"parameter": "discrimination"}]
    if model == "3pl" and prior_c is not None:
        options["priors"] = {"guessing": BetaPrior(*prior_c)}
    # The plain 2PL runs on mirt's native EM; the constrained and penalised fits run its
    # Python EM, where SQUAREM cuts iterations (and time) by about half.
    accelerate: Literal["none", "squarem"] = "none" if model == "2pl" else "squarem"
    fit = mirt.fit_mirt(
        data,
        model="3PL" if model == "3pl" else "2PL",
        n_quadpts=quadrature_points,
        max_iter=max_iter,
        tol=tol,
        compute_standard_errors=False,
        accelerate=accelerate,
        **options,
    )
    params: Mapping[str, FloatArray] = fit.model.parameters
    a = np.full(u.shape[1], np.nan)
    b = np.full(u.shape[1], np.nan)
    c = np.full(u.shape[1], np.nan)
    # mirt's logistic has no D: its slope is D·a.
    a[seen] = np.asarray(params["discrimination"], dtype=np.float64).ravel() / D
    b[seen] = np.asarray(params["difficulty"], dtype=np.float64)
    c[seen] = np.asarray(params["guessing"], dtype=np.float64) if model == "3pl" else 0.0
    return Calibration(
        model=model,
        a=a,
        b=b,
        c=c,
        n=n,
        converged=bool(fit.converged),
        iterations=int(fit.n_iterations),
        log_likelihood=float(fit.log_likelihood),
    )


def rescale(cal: Calibration, A: float, B: float) -> Calibration:
    """``cal`` on the scale θ' = A·θ + B: b* = A·b + B, a* = a / A, c unchanged."""
    if not (A > 0 and np.isfinite(A) and np.isfinite(B)):
        raise ValueError(f"linking constants must be finite with A > 0, got A={A}, B={B}")
    return replace(cal, a=cal.a / A, b=A * cal.b + B)


def stocking_lord(
    old: ItemParams, new: ItemParams, anchors: npt.ArrayLike | None = None
) -> tuple[float, float]:
    """Linking constants (A, B) that put ``new`` on the scale of ``old``: θ_old = A·θ_new + B.

    Stocking–Lord: A and B minimise Σ_k w_k · (T_old(θ_k) − T_new*(θ_k))², the gap between the
    anchors' test characteristic curves, with new* = :func:`rescale` (new, A, B) and w the
    N(0, 1) density on the old scale (the weights of :func:`drift`). Matching whole curves
    uses a and c as well as b and shrugs off items whose b ran to an extreme, where mean/sigma
    on b does not; mean/sigma only gives the starting point. ``anchors`` is a boolean mask or
    a list of indices (default: every item) and must name at least 2 items with finite
    parameters.
    """
    if len(old.a) != len(new.a):
        raise ValueError(f"old has {len(old.a)} items and new has {len(new.a)}")
    pick = np.arange(len(old.a)) if anchors is None else np.asarray(anchors)
    if pick.dtype == np.bool_:
        pick = np.flatnonzero(pick)
    a_old, b_old, c_old = old.a[pick], old.b[pick], old.c[pick]
    a_new, b_new, c_new = new.a[pick], new.b[pick], new.c[pick]
    finite = np.isfinite(np.stack([a_old, b_old, c_old, a_new, b_new, c_new])).all(axis=0)
    if pick.size < 2 or not finite.all():
        raise ValueError(
            "linking needs at least 2 anchors, all with finite parameters; "
            f"got {pick.size}, {int(finite.sum())} of them finite"
        )
    grid = quadrature_grid()
    root_w = np.sqrt(normal_prior(grid))[:, None]
    col = grid[:, None]
    target = (root_w * prob(col, a_old, b_old, c_old)).sum(axis=1)

    def residuals(x: FloatArray) -> FloatArray:
        A, B = np.exp(x[0]), x[1]
        out: FloatArray = target - (root_w * prob(col, a_new / A, A * b_new + B, c_new)).sum(1)
        return out

    sd_old, sd_new = float(np.std(b_old)), float(np.std(b_new))
    A0 = float(np.clip(sd_old / sd_new, 0.2, 5.0)) if sd_old > 0 and sd_new > 0 else 1.0
    B0 = float(np.clip(np.mean(b_old) - A0 * np.mean(b_new), -4.0, 4.0))
    fit = least_squares(
        residuals, [np.log(A0), B0], bounds=([np.log(0.1), -5.0], [np.log(10.0), 5.0])
    )
    return float(np.exp(fit.x[0])), float(fit.x[1])


def drift(
    old: ItemParams,
    new: ItemParams,
    grid: FloatArray | None = None,
    weights: FloatArray | None = None,
) -> FloatArray:
    """Per item RMSD between the old and the new item characteristic curve.

    RMSD = sqrt(Σ_k w_k · (P_old(θ_k) − P_new(θ_k))²) with w the N(0, 1) density on the grid
    (summing to 1), the RMSD that PISA uses for item fit: it weighs differences
    by how many examinees sit at each θ, so a change where nobody is measured counts little.
    Items with NaN parameters give NaN.
    """
    if len(old.a) != len(new.a):
        raise ValueError(f"old has {len(old.a)} items and new has {len(new.a)}")
    g = quadrature_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    w = normal_prior(g) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != g.shape:
        raise ValueError("weights must give one weight per grid point")
    col = g[:, None]
    diff = prob(col, old.a, old.b, old.c) - prob(col, new.a, new.b, new.c)
    out: FloatArray = np.sqrt((w / w.sum()) @ diff**2)
    return out


def flag_drift(old: ItemParams, new: ItemParams, threshold: float = 0.1) -> list[int]:
    """Indices of items whose :func:`drift` exceeds ``threshold``.

    0.1 is a little stricter than PISA's 0.12 (observed against model curves) so that a shift
    the size of the CAT's own SE target is caught: on the N(0, 1) weights it is crossed by a b
    shift of about 0.3 for a central 2PL item with a = 1, about 0.4 with c = 0.2, and 0.6–0.8
    for an item at b = ±1.5. Between two 2PL calibrations of an unchanged bank the RMSD is noise: in
    simulation its median and 95th percentile were 0.04 and 0.08 with 300 responses per item,
    0.02 and 0.05 with 900, so read flags only for items with ~1,000 responses in both.
    """
    rmsd = drift(old, new)
    return [int(i) for i in np.flatnonzero(np.nan_to_num(rmsd, nan=0.0) > threshold)]
