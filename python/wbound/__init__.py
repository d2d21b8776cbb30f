"""wbound: find the training samples a classifier depends on most — above all the mislabeled
ones — by the weights-boundary score, the smallest change of the model's weights (DeepFool in
weight space) that flips its prediction on a sample.

- :class:`Model` — an ONNX classifier (from a file, bytes, :meth:`Model.from_torch`,
  :meth:`Model.from_keras`);
- :func:`score` — every sample's score as a pandas DataFrame (``wbound score``'s columns);
- :class:`WeightsBoundaryCalculator` — influenciae's class, as a drop-in;
- :func:`find_label_issues` — the samples whose label looks wrong, most suspicious first;
- the exceptions, from :class:`WboundError` down.

>>> import numpy as np, wbound
>>> x = np.load("tests/fixtures/mlp/x.npy")
>>> df = wbound.score("tests/fixtures/mlp/model.onnx", x, progress=False)
>>> df.sort_values("score", ascending=False, kind="stable").head(3).index.tolist()
[151, 44, 100]
"""

from __future__ import annotations

from . import _wbound
from ._errors import (
    DataError,
    MissingFileError,
    ModelError,
    NotSupportedYetError,
    ResourceError,
    SettingError,
    UnsupportedModelError,
    WboundError,
    WboundOSError,
)
from ._influenciae import WeightsBoundaryCalculator
from ._label_issues import find_label_issues
from ._model import Model
from ._score import CHECKPOINT_COLUMNS, COLUMNS, score

__version__: str = _wbound.__version__

__all__ = [
    "CHECKPOINT_COLUMNS",
    "COLUMNS",
    "DataError",
    "MissingFileError",
    "Model",
    "ModelError",
    "NotSupportedYetError",
    "ResourceError",
    "SettingError",
    "UnsupportedModelError",
    "WboundError",
    "WboundOSError",
    "WeightsBoundaryCalculator",
    "find_label_issues",
    "score",
]
