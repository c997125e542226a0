"""The call policy: when the router model's margin for calling a function decides a call
(the call bias), and how much of its prior over the declared names is taken out where it
picks one (the name prior). One place, read by every backend that sees the model's
first-token scores: the embedded llama.cpp router (logits) and the raw-prompt Ollama and
OpenAI-compatible routers (log-probabilities of the first token).

Both figures are calibrated on dev data for an adapter (weights.router_call_bias,
weights.router_name_prior); a backend that sees no scores applies neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

import numpy as np

# How many alternatives to ask a server for at the first token: enough to hold the call
# marker when the model prefers text, and the best text token when it prefers a call.
TOP_LOGPROBS = 5
# Messages that say nothing, for reading the model's prior over the declared names
# (contextual calibration, Zhao et al. 2021, "Calibrate Before Use").
CONTENT_FREE = ("N/A", "", "[MASK]")


def calls(margin: float, call_bias: float, mode: Literal["auto", "none", "required"] = "auto"
          ) -> bool:
    """Whether the model calls a function: its call token's margin over the best other
    token (logits or log-probabilities) beats ``call_bias``; ``mode`` (tool_choice)
    "required" always calls, "none" never does."""
    return mode == "required" or (mode == "auto" and margin > call_bias)


def logit_margin(logits: np.ndarray, call_token: int) -> float:
    """The call token's margin over the best other token. Leaves ``call_token``'s logit
    at -inf, so that argmax of ``logits`` is the best token that is not a call."""
    call_logit = float(logits[call_token])
    logits[call_token] = -np.inf
    return call_logit - float(logits.max())


class Decision(NamedTuple):
    """What to do with the model's first token: ``keep`` its choice, answer ``no_call``
    (a call that did not win by the calibrated margin), or ``decode_call`` (a negative
    bias: the call marker came close enough to win, so decode a call after it).
    ``margin``: the call's log-probability margin over the best other token."""

    action: Literal["keep", "no_call", "decode_call"]
    margin: float


def first_token_decision(token: str, logprob: float, top: Iterable[tuple[str, float]],
                         call_bias: float, call_tokens: frozenset[str]) -> Decision:
    """The call bias applied to the first token ``token`` (log-probability ``logprob``)
    that a server sampled, given the most likely tokens at that position ``top`` as
    (token, logprob); ``call_tokens``: the spellings of the call marker."""
    top = list(top)
    others = [lp for t, lp in top if t not in call_tokens]
    marker = [lp for t, lp in top if t in call_tokens]
    if token in call_tokens:
        margin = logprob - max(others, default=-float("inf"))
        # (written so that a NaN margin, from a server's NaN, keeps the model's call)
        return Decision("no_call" if margin <= call_bias else "keep", margin)
    if marker:
        margin = max(marker) - logprob
        return Decision("decode_call" if calls(margin, call_bias) else "keep", margin)
    return Decision("keep", -float("inf"))


def wants_name_bias(name_prior: float, heads: Sequence[int]) -> bool:
    """Whether the name prior changes anything (and the content-free rows are needed)."""
    return bool(name_prior) and len(heads) > 1


def name_bias(rows: Sequence[np.ndarray], heads: Sequence[int], name_prior: float
              ) -> dict[int, float]:
    """What to add to each declared name's first-token logit (``heads``) where the model
    picks a name: ``-name_prior`` times the log-probability the model gives that name,
    among the declared ones, when made to call on a message that says nothing (``rows``:
    the logits there, one row per CONTENT_FREE message, averaged). A function the adapter
    never saw starts far behind the trained ones whatever the message says ("rain in
    Paris?" reads as a trip); this evens the start so the message decides. Worth it only
    with a name prior and more than one head (see wants_name_bias)."""
    total = np.zeros(len(heads))
    for logits in rows:
        row = logits[list(heads)].astype(np.float64)
        total += row - (row.max() + np.log(np.exp(row - row.max()).sum()))
    prior = total / len(rows)
    prior -= prior.mean()
    return {int(t): float(-name_prior * p) for t, p in zip(heads, prior, strict=True)}
