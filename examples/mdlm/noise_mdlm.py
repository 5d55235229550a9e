"""MDLM's noise schedule: when a token is masked, and how much its loss counts.

The absorbing forward process masks each token independently by time ``t`` with
probability ``move_chance(t) = 1 - exp(-sigma(t))``, where ``sigma`` is the *total noise*.
MDLM's default is the log-linear schedule ``sigma(t) = -log(1 - (1 - eps) t)``: the masking
probability then grows linearly, ``(1 - eps) t``, and the continuous-time ELBO weight of a
masked token, ``sigma'(t) / (exp(sigma(t)) - 1)``, is exactly ``1 / t``.

In xlm-core the schedule is a *global component* shared by collator and predictor; here
the loss and the predictor each get one from their config (the predictor's interpolates
the loss's: ``noise_schedule: ${loss.noise_schedule}``), so both always agree.
"""

from __future__ import annotations

import torch
from torch import Tensor


class LogLinearSchedule:
    """``sigma(t) = -log1p(-(1 - eps) t)`` for ``t`` in [0, 1].

    ``eps`` keeps a sliver of signal at ``t = 1`` (``sigma`` stays finite) and is also the
    smallest ``t`` the loss samples, which bounds the ``1/t`` weight by ``1/eps``.
    ``antithetic`` spreads one batch's times evenly over [eps, 1): the ELBO estimate stays
    unbiased and its variance drops (MDLM's low-discrepancy sampler).
    """

    def __init__(self, eps: float = 1e-3, antithetic: bool = True) -> None:
        if not 0.0 < eps < 1.0:
            raise ValueError(f"eps must be in (0, 1), got {eps}")
        self.eps = eps
        self.antithetic = antithetic

    def total_noise(self, t: Tensor) -> Tensor:
        """sigma(t): what the network is conditioned on."""
        return -torch.log1p(-(1.0 - self.eps) * t)

    def rate(self, t: Tensor) -> Tensor:
        """sigma'(t)."""
        return (1.0 - self.eps) / (1.0 - (1.0 - self.eps) * t)

    def move_chance(self, t: Tensor) -> Tensor:
        """Probability that a token is masked at time t."""
        return -torch.expm1(-self.total_noise(t))

    def loss_weight(self, t: Tensor) -> Tensor:
        """The ELBO's weight of a masked token's cross entropy (1/t for this schedule)."""
        return self.rate(t) / torch.expm1(self.total_noise(t))

    def sample_t(self, batch_size: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> Tensor:
        """One time per sequence in [eps, 1)."""
        if self.antithetic:
            u = torch.rand((), device=device, generator=generator)
            u = (u + torch.arange(batch_size, device=device) / batch_size) % 1.0
        else:
            u = torch.rand((batch_size,), device=device, generator=generator)
        return self.eps + (1.0 - self.eps) * u
