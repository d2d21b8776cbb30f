"""``wbound.score``: every sample's weights-boundary score as a pandas DataFrame with the CLI's
columns (``wbound score``'s CSV), one row per sample, in input order."""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, Optional, Union

import numpy as np
import pandas as pd

from . import _arrays, _wbound
from ._errors import SettingError
from ._model import Model
from ._progress import ProgressArg, reporter

ModelArg = Union[Model, str, "os.PathLike[str]", bytes]

#: The output columns, in order (the library's list: ``wbound score``'s CSV header).
COLUMNS: tuple[str, ...] = tuple(_wbound.COLUMNS)

#: The output columns of a run over several checkpoints, in order (then ``score_1`` …
#: ``score_K`` with ``per_checkpoint=True``).
CHECKPOINT_COLUMNS: tuple[str, ...] = tuple(_wbound.CHECKPOINT_COLUMNS)


def checkpoints(model: Any, weights: Any) -> Optional[list[Model]]:
    """The checkpoints of a run, or ``None`` for one model: a list of models (paths, bytes,
    :class:`Model`), or one model and a list of weight sets (``state_dict`` mappings or
    safetensors paths, :meth:`Model.with_weights`)."""
    if weights is not None:
        if isinstance(model, (list, tuple)):
            raise TypeError("weights= takes one model (the architecture the weight sets fill), not a list")
        if isinstance(weights, Mapping) or isinstance(weights, (str, os.PathLike)):
            weights = [weights]
        base = as_model(model)
        return [base.with_weights(w) for w in weights]
    if isinstance(model, (list, tuple)):
        if not model:
            raise ValueError("the list of checkpoints is empty")
        return [as_model(m) for m in model]
    return None


def as_model(model: Any) -> Model:
    """``model`` as a :class:`Model`: itself, or loaded from a path or bytes."""
    if isinstance(model, _wbound.Model):
        return model  # type: ignore[return-value]
    if isinstance(model, (list, tuple)):
        raise TypeError("one model is expected here; wbound.score takes a list of checkpoints")
    if isinstance(model, (str, bytes, bytearray, os.PathLike)):
        return Model(model)
    raise TypeError(f"model must be a wbound.Model, a path to an .onnx file or its bytes, not {type(model).__name__}")


def norm_name(norm: Any) -> str:
    """A norm given as 2, 1, ``inf``/``np.inf`` or their names, as the library parses it."""
    if isinstance(norm, (int, float)) and not isinstance(norm, bool):
        return "inf" if math.isinf(norm) else (str(int(norm)) if float(norm).is_integer() else str(norm))
    return str(norm)


def calculator(
    model: Any,
    *,
    steps: int = 100,
    norm: Any = 2,
    eps: float = 1e-6,
    params: str = "all",
    reference: str = "prediction",
    batch_size: int = 256,
    threads: Optional[int] = None,
    skip_invalid: bool = False,
) -> _wbound.Calculator:
    """The native calculator for these settings (the library validates them when a run starts)."""
    return _wbound.Calculator(
        as_model(model),
        steps=int(steps),
        norm=norm_name(norm),
        eps=float(eps),
        params=str(params),
        reference=str(reference),
        batch_size=int(batch_size),
        threads=None if threads is None else int(threads),
        skip_invalid=bool(skip_invalid),
    )


def frame(columns: Mapping[str, Any]) -> pd.DataFrame:
    """The columns of a run as a DataFrame. Class columns are int64, or pandas' nullable
    ``Int64`` with ``<NA>`` when some sample was not scored (``invalid_input``, the CSV's empty
    cells)."""
    data = {}
    names = COLUMNS if "distance" in columns else [*CHECKPOINT_COLUMNS, *sorted(
        (c for c in columns if c.startswith("score_")), key=lambda c: int(c[6:]))]
    for name in names:
        value = columns[name]
        if isinstance(value, list) and name != "status":
            value = pd.array(value, dtype="Int64")
        data[name] = value
    return pd.DataFrame(data)


def score(
    model: Any,
    x: Any,
    labels: Any = None,
    *,
    steps: int = 100,
    norm: Any = 2,
    eps: float = 1e-6,
    params: str = "all",
    reference: Optional[str] = None,
    batch_size: int = 256,
    threads: Optional[int] = None,
    progress: ProgressArg = None,
    skip_invalid: bool = False,
    weights: Any = None,
    per_checkpoint: bool = False,
    early_steps: Optional[int] = None,
) -> pd.DataFrame:
    """Scores every sample of ``x``: a DataFrame with ``wbound score``'s columns, one row per
    sample, in input order, equal to the CLI's CSV (same engine, same settings).

    - ``model``: a :class:`Model`, a path to an ``.onnx`` file or its bytes; or a list of them,
      the checkpoints of one training run in training order (or one model and ``weights``, a
      list of ``state_dict``\ s or safetensors paths): see *Checkpoints* below.
    - ``x``: the samples, ``[N, *model.input_shape]``, any float, int or uint dtype (float32
      C-contiguous arrays are used without a copy); ``labels``: ``[N]`` integer classes, needed by
      ``reference="label"``.
    - ``steps``, ``norm`` (2, 1 or ``inf``), ``eps``, ``params`` (``"all"``, ``"last"`` or a glob
      over ``model.parameters``), ``reference`` (``"prediction"``, influenciae's score, or
      ``"label"``, the signed label margin), ``batch_size``, ``threads`` (default: one per core),
      ``skip_invalid`` (score samples holding NaN/inf as ``invalid_input`` instead of refusing):
      as ``wbound score``'s flags.
    - ``progress``: ``None`` (a tqdm bar on runs over a second, when tqdm is installed),
      ``False``, ``True``, or a callable ``progress(done, total)``.

    Columns: ``index``, ``score`` (``-distance``; higher = more suspicious), ``distance``,
    ``steps``, ``status`` (``crossed``, ``on_boundary``, ``step_limit``, ``stuck``,
    ``non_finite``, ``invalid_input``), ``original_class``, ``final_class``. The GIL is released
    while scoring; Ctrl-C raises ``KeyboardInterrupt`` within a second.

    *Checkpoints* (several models, or ``weights``): every sample is scored on every checkpoint
    against its label (``labels`` needed; ``reference`` must be ``None`` or ``"label"``), and the
    columns are those of ``wbound score --model A B C``: ``index``, ``score`` (the mean
    label-referenced score, higher = more suspicious), ``aum`` (mean margin, lower = more
    suspicious), ``mean_loss``, ``label``, ``prediction`` (the last checkpoint's),
    ``suggested_label``, ``final_class``, ``steps`` (summed), ``status`` (the worst), and with
    ``per_checkpoint=True`` ``score_1`` … ``score_K``. ``early_steps`` bounds the search on every
    checkpoint but the last.

    >>> import numpy as np, wbound
    >>> x = np.load("tests/fixtures/mlp/x.npy")[:50]
    >>> df = wbound.score("tests/fixtures/mlp/model.onnx", x, progress=False)
    >>> list(df.columns)
    ['index', 'score', 'distance', 'steps', 'status', 'original_class', 'final_class']
    >>> bool((df.score == -df.distance).all()), len(df)
    (True, 50)
    """
    models = checkpoints(model, weights)
    if models is not None:
        if reference not in (None, "label", "labels"):
            raise SettingError(
                f"invalid reference: {len(models)} checkpoints are scored against the labels (the mean of the "
                "label-referenced score); leave reference unset or pass reference='label'"
            )
        run = _wbound.CheckpointCalculator(
            models,
            steps=int(steps),
            early_steps=None if early_steps is None else int(early_steps),
            norm=norm_name(norm),
            eps=float(eps),
            params=str(params),
            batch_size=int(batch_size),
            threads=None if threads is None else int(threads),
            skip_invalid=bool(skip_invalid),
        )
        xs = _arrays.samples(x)
        ys = _arrays.labels(labels)
        with reporter(progress, len(xs) if xs.ndim else None) as report:
            return frame(run.score(xs, ys, report, bool(per_checkpoint)))
    if per_checkpoint or early_steps is not None:
        raise SettingError(
            "invalid per_checkpoint/early_steps: they apply to several checkpoints (a list of models, or weights=)"
        )
    calc = calculator(
        model,
        steps=steps,
        norm=norm,
        eps=eps,
        params=params,
        reference=reference or "prediction",
        batch_size=batch_size,
        threads=threads,
        skip_invalid=skip_invalid,
    )
    xs = _arrays.samples(x)
    ys = _arrays.labels(labels)
    with reporter(progress, len(xs) if xs.ndim else None) as report:
        columns = calc.score(xs, ys, report, 0, len(xs) if xs.ndim else None)
    return frame(columns)
