"""Scaling laws: compute-optimal model size and tokens, and the predicted loss.

Chinchilla Approach 3 (Hoffmann et al. 2022, §3.3 and App. D.2) fits
``L(N, D) = E + A/N^α + B/D^β``. Minimising it under ``C = 6·N·D`` gives
``N_opt = G·(C/6)^a``, ``D_opt = G^-1·(C/6)^b`` with ``G = (αA/(βB))^(1/(α+β))``,
``a = β/(α+β)``, ``b = α/(α+β)``. The "20 tokens per parameter" rule instead sets
``D = 20·N``, so ``N_opt = sqrt(C/120)``.

The default is that rule: it is Hoffmann et al.'s Approach 1 (and, within its interval,
Approach 2: Table 2 gives ``N_opt ∝ C^0.50``, ``D_opt ∝ C^0.50``) anchored at Chinchilla itself
(70 B parameters, 1.4 T tokens), and it reproduces the paper's own published optima (Table 3,
400 M to 10 T parameters) within 8 % in both N and D. The rounded Approach-3 constants
(``law="chinchilla"``) put the optimum at about half that size (41 B instead of 91 B at
1e24 FLOP); they stay available, as does the Besiroglu et al. 2024 refit (``"epoch"``).

``N`` is the parameter count active per token (``active_params``; total = active for a
dense model). Chinchilla's ``N`` counts all parameters incl. embeddings (physics.md §8),
so ``active_params`` from :mod:`dsx.solvers.model` is the matching quantity. The law was
fitted on dense models: for MoE models the numbers are indicative only.
"""

from __future__ import annotations

import numpy as np

from .base import solver, where
from .quantities import unit

__all__ = ["LAWS", "optimal_allocation", "chinchilla_loss", "scaling_law"]

#: Fitted constants (E, A, B, alpha, beta) of ``L = E + A/N^alpha + B/D^beta``.
LAWS = {
    # Hoffmann et al. 2022 §3.3 (rounded constants as printed; Approach 3).
    "chinchilla": (1.69, 406.4, 410.7, 0.34, 0.28),
    # Besiroglu, Erdil, Barnett, You 2024, arXiv:2404.10102 (refit of Approach 3; secondary).
    "epoch": (1.8172, 482.01, 2085.43, 0.3478, 0.3658),
}

#: Tokens per parameter of the "20x" rule (Hoffmann et al. 2022: Chinchilla 70 B / 1.4 T).
RULE_TOKENS_PER_PARAM = 20.0

#: Default law: the one that reproduces Hoffmann et al. 2022 Table 3 (Approach 1) within 8 %.
DEFAULT_LAW = "20x"


def optimal_allocation(compute, law=DEFAULT_LAW):
    """Compute-optimal parameters and tokens for a training budget.

    Parameters
    ----------
    compute : float or array
        Training compute ``C = 6·N·D`` (flop).
    law : {"20x", "chinchilla", "epoch"}
        The 20-tokens-per-parameter rule (default: Approach 1 of Hoffmann et al. 2022,
        Table 3 within 8 %), the Approach-3 constants of Hoffmann et al. 2022, or the
        Besiroglu et al. 2024 refit.

    Returns
    -------
    (N_opt, D_opt)
        Parameters (param) and tokens (token); ``6·N_opt·D_opt = C``.

    References
    ----------
    Hoffmann et al. 2022 (arXiv:2203.15556) §3.3, App. D.2, Table 2 (a = 0.50 for Approach 1,
    0.46 for Approach 3), Table 3 (Approach 1 optima); Besiroglu et al. 2024 (arXiv:2404.10102).

    Examples
    --------
    >>> n, d = optimal_allocation(5.76e23)      # Table 3: 67 B parameters, 1.5 T tokens
    >>> round(float(n) / 1e9), round(float(d) / 1e12, 2)
    (69, 1.39)
    >>> n, d = optimal_allocation(1e24, "chinchilla")   # physics.md §8: 41 B, 4.0 T
    >>> round(float(n) / 1e9), round(float(d) / 1e12, 1)
    (41, 4.0)
    >>> n, d = optimal_allocation(6 * 70e9 * 1.4e12)    # Chinchilla itself
    >>> round(float(n) / 1e9), round(float(d) / 1e12, 2)
    (70, 1.4)
    """
    six = 6.0 * unit("flop/param/token")  # C = 6 N D
    if law == "20x":
        n = np.sqrt(compute / (six * RULE_TOKENS_PER_PARAM * unit("token/param")))
        return n, compute / (six * n)
    _, a_, b_, alpha, beta = LAWS[law]
    g = (alpha * a_ / (beta * b_)) ** (1.0 / (alpha + beta))
    # the fit is in bare counts: N D in param·token, N in param
    n = g * unit("param") * (compute / (six * unit("param*token"))) ** (beta / (alpha + beta))
    return n, compute / (six * n)


def chinchilla_loss(n, d, law="chinchilla"):
    """Predicted pre-training loss ``E + A/N^α + B/D^β`` (nats per token, MassiveText).

    Parameters
    ----------
    n : float or array
        Parameters (param).
    d : float or array
        Training tokens (token).
    law : {"chinchilla", "epoch"}
        Which fitted constants.

    Returns
    -------
    float or array
        Loss (nat/token).

    References
    ----------
    Hoffmann et al. 2022 Eq. 2 / §3.3 (Approach 3).

    Examples
    --------
    >>> round(float(chinchilla_loss(70e9, 1.4e12)), 3)     # Chinchilla
    1.937
    """
    e, a_, b_, alpha, beta = LAWS[law]
    # the fit is in bare counts: A in param^alpha, B in token^beta
    return e + a_ * unit("param") ** alpha / n ** alpha + b_ * unit("token") ** beta / d ** beta


@solver(("compute_budget", "chinchilla_params", "chinchilla_tokens", "tokens_per_param", "optimal_tokens_per_param",
         "rule_params", "predicted_loss"))
def scaling_law(active_params, train_tokens, law):
    """Compute budget of the job, its compute-optimal allocation and predicted loss.

    Parameters
    ----------
    active_params : float or array
        Parameters active per token ``N`` (param).
    train_tokens : float or array
        Tokens trained ``D`` (token).
    law : str or array
        ``"chinchilla"``, ``"epoch"`` or ``"20x"`` (may be an axis).

    Returns
    -------
    dict
        ``compute_budget = 6·N·D`` (flop; the Chinchilla/Kaplan convention: attention FLOPs
        and recomputation excluded, so the law's fit applies; the job's model FLOPs incl.
        attention are ``model_flops_step × steps``); ``chinchilla_params``,
        ``chinchilla_tokens`` for that budget; ``tokens_per_param = D/N``;
        ``predicted_loss = L(N, D)``; ``optimal_tokens_per_param`` (the law's ``D_opt/N_opt``)
        and ``rule_params = sqrt(C / (6·20))``, the 20-tokens-per-parameter rule's size for the
        budget (Hoffmann et al. 2022, Approach 1), shown beside a fitted law.

    References
    ----------
    Hoffmann et al. 2022 (arXiv:2203.15556) §3.3, App. D.2; Kaplan et al. 2020 §2.1 (C ≈ 6ND);
    physics.md §8.

    Examples
    --------
    Llama-3.1-70B on 15 T tokens: over-trained for its compute (≈ 213 tokens/param).

    >>> out = scaling_law.kernel(70.6e9, 15e12, "chinchilla")
    >>> round(float(out["tokens_per_param"])), round(float(out["chinchilla_params"]) / 1e9)
    (212, 95)
    """
    six = 6.0 * unit("flop/param/token")
    compute = six * active_params * train_tokens
    n_ch, _ = optimal_allocation(compute, "chinchilla")
    n_ep, _ = optimal_allocation(compute, "epoch")
    n_20, _ = optimal_allocation(compute, "20x")
    is_epoch = law == "epoch"
    n_opt = where(law == "20x", n_20, where(is_epoch, n_ep, n_ch))
    loss = where(is_epoch, chinchilla_loss(active_params, train_tokens, "epoch"),
                 chinchilla_loss(active_params, train_tokens, "chinchilla"))
    d_opt = compute / (six * n_opt)
    return {"compute_budget": compute, "chinchilla_params": n_opt, "chinchilla_tokens": d_opt,
            "tokens_per_param": train_tokens / active_params, "predicted_loss": loss,
            "optimal_tokens_per_param": d_opt / n_opt, "rule_params": n_20}
