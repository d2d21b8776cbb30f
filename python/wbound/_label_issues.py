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

#: Below this share of samples whose prediction disagrees with the label, the model is taken to
#: have memorised its labels, and the distance outliers are flagged too.
MEMORISED_SHARE = 0.01
#: How far below the median log distance (in robust standard deviations, 1.4826 × MAD) a sample
#: the model predicts as labelled is an outlier.
OUTLIER_DEVIATIONS = 2.0


def flag(scores: np.ndarray, frac: Optional[float] = None) -> np.ndarray:
    """The flagging rule on label-referenced scores, as a boolean mask (see
    :func:`find_label_issues`)."""
    n = len(scores)
    if frac is not None:
        if not (0.0 < frac <= 1.0):
            raise SettingError(f"invalid frac: {frac} is not a fraction in (0, 1]")
        mask = np.zeros(n, bool)
        mask[ranking(scores)[: math.ceil(frac * n)]] = True
        return mask
    disagree = scores > 0
    if disagree.mean() >= MEMORISED_SHARE:
        return disagree
    agree = scores <= 0
    if not agree.any():
        return disagree
    log_distance = np.log(np.maximum(-scores[agree], np.finfo(np.float64).tiny))
    median = np.median(log_distance)
    spread = 1.4826 * np.median(np.abs(log_distance - median))
    outliers = np.zeros(n, bool)
    outliers[np.flatnonzero(agree)] = log_distance < median - OUTLIER_DEVIATIONS * spread
    return disagree | outliers


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
    """The samples whose given label is likely wrong, most suspicious first.

    Every sample gets the label-referenced weights-boundary score (``wbound.score(...,
    reference="label")``): ``-distance`` when the model predicts the given label (the smallest
    weight change that makes it stop), ``+distance`` otherwise (the smallest change that makes it
    predict the label); higher = more suspicious. Then:

    - with ``frac``: the top ``ceil(frac * N)`` samples by score are flagged (e.g. the expected
      noise rate);
    - else, **the rule**: every sample whose prediction disagrees with its label (score > 0); and
      when the model disagrees with fewer than 1% of its labels — it has memorised them, flipped
      ones included — also the samples whose log distance is more than 2 robust standard
      deviations (1.4826 × MAD) below the median of the agreeing samples: labels the weights
      barely hold.

    Returns the flagged indices ranked by descending score (ties in input order), or with
    ``return_indices_ranked_by=None`` a boolean mask over the samples (cleanlab's convention).
    ``labels``, ``x``, ``model`` and the other arguments are as for :func:`wbound.score`.

    Measured on wbound's benchmark (``wbound bench``'s training sets: 10% of the labels flipped;
    3 seeds, mean; precision / recall of the flagged set, and the precision among the top k =
    number flipped of the ranking):

    ==============================================  =======  =========  ======  =====
    model (training set)                            flagged  precision  recall  P@k
    ==============================================  =======  =========  ======  =====
    MNIST MLP, 3 epochs (does not memorise; 2,000)  268      0.71       0.95    0.87
    MNIST MLP, fits every noisy label (2,000)        34      0.74       0.12    0.48
    MNIST CNN, fits every noisy label (2,000)        37      0.63       0.11    0.46
    digits MLP, fits every noisy label (1,000)       14      0.75       0.11    0.52
    ==============================================  =======  =========  ======  =====

    A model that has memorised its labels hides most flipped ones (the rule then flags few, with
    about 70% precision); score an earlier checkpoint, or pass ``frac``, to find more.

    The reference MLP fits all 300 of its labels (27 of them flipped) and no distance stands out,
    so the rule flags nothing; the top 9% holds 11 of the 27:

    >>> import numpy as np, wbound
    >>> x, y = np.load("tests/fixtures/mlp/x.npy"), np.load("tests/fixtures/mlp/y.npy")
    >>> flipped = np.load("tests/fixtures/mlp/noisy_idx.npy")
    >>> model = wbound.Model("tests/fixtures/mlp/model.onnx")
    >>> len(wbound.find_label_issues(y, x=x, model=model, progress=False))
    0
    >>> issues = wbound.find_label_issues(y, x=x, model=model, frac=0.09, progress=False)
    >>> len(issues), int(np.isin(issues, flipped).sum()), issues[:3].tolist()
    (27, 11, [151, 44, 100])
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
