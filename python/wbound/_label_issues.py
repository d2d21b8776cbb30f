"""``wbound.find_label_issues``: the samples whose given label looks wrong, most suspicious first,
in the spirit of cleanlab's function of the same name — from the label-referenced
weights-boundary score instead of cross-validated probabilities (no extra training)."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from . import _arrays
from ._errors import SettingError
from ._progress import ProgressArg
from ._score import score

RULE_PLACEHOLDER = True


def flag(scores: np.ndarray, frac: Optional[float] = None) -> np.ndarray:
    """The flagging rule on label-referenced scores: a boolean mask."""
    n = len(scores)
    if frac is not None:
        if not (0.0 < frac <= 1.0):
            raise SettingError(f"invalid frac: {frac} is not a fraction in (0, 1]")
        mask = np.zeros(n, bool)
        mask[ranking(scores)[: math.ceil(frac * n)]] = True
        return mask
    return scores > 0


def ranking(scores: np.ndarray) -> np.ndarray:
    """Indices by descending score (stable: ties keep input order; NaN last)."""
    key = np.where(np.isnan(scores), np.inf, -scores)
    return np.argsort(key, kind="stable")


def find_label_issues(
    labels: Any,
    *,
    x: Any,
    model: Any,
    return_indices_ranked_by: Optional[str] = "score",
    frac: Optional[float] = None,
    steps: int = 100,
    batch_size: int = 256,
    threads: Optional[int] = None,
    progress: ProgressArg = None,
) -> np.ndarray:
    """Flags the samples whose label is likely wrong.

    Scores every sample with the label-referenced weights-boundary score (``wbound.score(...,
    reference="label")``: ``-distance`` when the model predicts the given label, ``+distance`` to
    make it predict the label otherwise; higher = more suspicious), then flags by the rule below.
    """
    y = _arrays.labels(labels)
    df = score(model, x, y, steps=steps, reference="label", batch_size=batch_size, threads=threads, progress=progress)
    s = df["score"].to_numpy()
    mask = flag(s, frac)
    if return_indices_ranked_by is None:
        return mask
    if return_indices_ranked_by != "score":
        raise SettingError(
            f"invalid return_indices_ranked_by: '{return_indices_ranked_by}'; expected 'score' or None (a boolean mask)"
        )
    order = ranking(s)
    return order[mask[order]].astype(np.int64)
