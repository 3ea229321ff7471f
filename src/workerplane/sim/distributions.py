"""Seeded random distributions for startup delays and task durations.

A :class:`Distribution` is a small immutable description ("lognormal with mean 2 s") that draws from
a caller-supplied :class:`numpy.random.Generator`, so that a simulation seeded once is reproducible
bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Kind = Literal["const", "uniform", "exponential", "lognormal", "pareto", "bimodal"]


@dataclass(frozen=True)
class Distribution:
    """A non-negative random variable.

    Attributes:
        kind: ``const`` (always ``mean``), ``uniform`` on ``[low, high]``, ``exponential`` with
            ``mean``, ``lognormal`` with ``mean`` and log-space ``sigma``, or ``pareto`` (type I)
            with shape ``alpha`` (> 1) and mean ``mean``, or ``bimodal``: ``high`` with probability
            ``p_high``, else ``low`` (short tasks mixed with a few long ones).
        mean: the mean (for ``uniform`` and ``bimodal`` it is derived from the other fields).
        sigma: lognormal log-space standard deviation.
        low: uniform lower bound.
        high: uniform upper bound.
        alpha: Pareto shape; smaller is heavier-tailed.
        cap: optional upper cap applied to every draw (keeps heavy tails finite).
        p_high: ``bimodal``: the share of draws that take ``high``.
    """

    kind: Kind = "const"
    mean: float = 1.0
    sigma: float = 0.5
    low: float = 0.0
    high: float = 0.0
    alpha: float = 1.5
    cap: float | None = None
    p_high: float = 0.0

    @staticmethod
    def const(value: float) -> Distribution:
        return Distribution(kind="const", mean=value)

    @staticmethod
    def uniform(low: float, high: float) -> Distribution:
        return Distribution(kind="uniform", mean=(low + high) / 2, low=low, high=high)

    @staticmethod
    def exponential(mean: float) -> Distribution:
        return Distribution(kind="exponential", mean=mean)

    @staticmethod
    def lognormal(mean: float, sigma: float = 0.5, cap: float | None = None) -> Distribution:
        return Distribution(kind="lognormal", mean=mean, sigma=sigma, cap=cap)

    @staticmethod
    def pareto(mean: float, alpha: float = 1.5, cap: float | None = None) -> Distribution:
        if alpha <= 1:
            raise ValueError("pareto alpha must be > 1 for a finite mean")
        return Distribution(kind="pareto", mean=mean, alpha=alpha, cap=cap)

    @staticmethod
    def bimodal(low: float, high: float, p_high: float) -> Distribution:
        if not 0.0 <= p_high <= 1.0:
            raise ValueError("bimodal p_high must be in [0, 1]")
        mean = (1.0 - p_high) * low + p_high * high
        return Distribution(kind="bimodal", mean=mean, low=low, high=high, p_high=p_high)

    def sample(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        """Draw ``n`` values (float64, >= 0)."""
        out: npt.NDArray[np.float64]
        if self.kind == "const":
            out = np.full(n, float(self.mean))
        elif self.kind == "uniform":
            out = rng.uniform(self.low, self.high, n)
        elif self.kind == "exponential":
            out = rng.exponential(self.mean, n)
        elif self.kind == "lognormal":
            mu = math.log(self.mean) - self.sigma**2 / 2
            out = rng.lognormal(mu, self.sigma, n)
        elif self.kind == "pareto":
            xm = self.mean * (self.alpha - 1) / self.alpha
            out = xm * (1.0 + rng.pareto(self.alpha, n))
        elif self.kind == "bimodal":
            out = np.where(rng.uniform(0.0, 1.0, n) < self.p_high, self.high, self.low)
        else:  # pragma: no cover - Literal guards this
            raise ValueError(f"unknown distribution kind {self.kind!r}")
        if self.cap is not None:
            out = np.minimum(out, self.cap)
        return np.asarray(out, dtype=np.float64)

    def describe(self) -> str:
        """A short human-readable label, e.g. ``lognormal(mean=2s, sigma=0.5)``."""
        if self.kind == "const":
            return f"{self.mean:g}s"
        if self.kind == "uniform":
            return f"uniform({self.low:g}-{self.high:g}s)"
        if self.kind == "bimodal":
            return f"{1 - self.p_high:.0%} {self.low:g}s, {self.p_high:.0%} {self.high:g}s"
        cap = f", cap={self.cap:g}s" if self.cap is not None else ""
        if self.kind == "lognormal":
            return f"lognormal(mean={self.mean:g}s, sigma={self.sigma:g}{cap})"
        if self.kind == "pareto":
            return f"pareto(mean={self.mean:g}s, alpha={self.alpha:g}{cap})"
        return f"{self.kind}(mean={self.mean:g}s)"
