"""``wbound.WeightsBoundaryCalculator``: influenciae's class of the same name, same arguments and
meaning, over wbound's engine — its users change one import."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional, Union

import numpy as np

from . import _arrays, _wbound
from ._model import Model
from ._progress import ProgressArg, reporter
from ._score import as_model, calculator

Samples = Union[np.ndarray, Iterable[Any]]


def _order_name(order: Any) -> str:
    """``"descending"``/``"ascending"``, or influenciae's ``ORDER.DESCENDING``/``ORDER.ASCENDING``."""
    name = getattr(order, "name", order)
    return str(name).lower()


def _as_model(model: Any) -> Model:
    """A wbound model, a path or bytes, or a Keras model (what influenciae takes), exported."""
    if isinstance(model, _wbound.Model) or isinstance(model, (str, bytes, bytearray, list, tuple)) or hasattr(model, "__fspath__"):
        return as_model(model)
    if hasattr(model, "layers") and hasattr(model, "predict"):  # a Keras model
        return Model.from_keras(model)
    if hasattr(model, "model") and hasattr(model.model, "layers"):  # influenciae's InfluenceModel
        return Model.from_keras(model.model)
    return as_model(model)


class WeightsBoundaryCalculator:
    """Weights-boundary self-influence, as influenciae's ``WeightsBoundaryCalculator``: for each
    sample, ``-‖w_adv - w‖`` where ``w_adv`` is the closest change of the model's weights
    (DeepFool in weight space) that moves the prediction on it to the decision boundary. Higher =
    more influential / suspicious.

    - ``model``: a :class:`wbound.Model`, a path to an ``.onnx`` file or its bytes, or a Keras
      model (exported with :meth:`wbound.Model.from_keras`, as influenciae takes it).
    - ``step_nbr``: most DeepFool updates per sample; ``norm_type``: 2 (influenciae's; equal
      scores), 1 or ``np.inf`` (true DeepFool l1/l∞ steps, unlike influenciae's); ``eps``: the
      top-two logit gap under which a sample is on the boundary.
    - ``threads`` (default: one per core) and ``progress`` (as :func:`wbound.score`) are wbound's
      additions.

    >>> import numpy as np, wbound
    >>> calc = wbound.WeightsBoundaryCalculator(wbound.Model("tests/fixtures/linear/model.onnx"))
    >>> x = np.zeros((1, 3), np.float32)         # influenciae's own test: a change of 2√2
    >>> [(batch.shape, scores.round(6).tolist()) for batch, scores in calc.compute_influence_values(x)]
    [((1, 3), [-2.828427])]
    """

    def __init__(
        self,
        model: Any,
        step_nbr: int = 100,
        norm_type: Any = 2,
        eps: float = 1e-6,
        *,
        threads: Optional[int] = None,
        progress: ProgressArg = None,
    ) -> None:
        self.model = _as_model(model)
        self.step_nbr = step_nbr
        self.norm_type = norm_type
        self.eps = eps
        self.threads = threads
        self.progress = progress

    def _calc(self, batch_size: int = 256) -> _wbound.Calculator:
        return calculator(
            self.model, steps=self.step_nbr, norm=self.norm_type, eps=self.eps, batch_size=batch_size, threads=self.threads
        )

    def compute_influence_values(self, x: Samples, batch_size: int = 256) -> Iterator[tuple[Any, np.ndarray]]:
        """Yields ``(batch, scores)`` pairs in input order: ``batch`` the samples as given,
        ``scores`` float64 ``[len(batch)]``.

        ``x`` is one array (numpy, or a torch/TensorFlow tensor; any float or int dtype), cut
        into batches of ``batch_size``, or an iterable of batches (a list or generator of arrays,
        a ``tf.data.Dataset`` or torch ``DataLoader``; ``(x, y)`` pairs yield ``x``), scored as
        they come. An array is checked as a whole first (shape, NaN/inf), so an error names the
        sample's index in it.
        """
        calc = self._calc(batch_size)
        if _arrays.is_array(x):
            xs = _arrays.samples(x)
            calc.validate(xs)
            original = np.asarray(x)
            with reporter(self.progress, len(xs)) as report:
                for start in range(0, len(xs), batch_size):
                    part = xs[start : start + batch_size]
                    columns = calc.score(part, None, report, start, len(xs))
                    yield original[start : start + batch_size], columns["score"]
            return
        done = 0
        with reporter(self.progress, None) as report:
            for batch, _ in _arrays.batches(x):
                columns = calc.score(_arrays.samples(_arrays.as_numpy(batch)), None, report, done, None)
                done += len(columns["score"])
                yield batch, columns["score"]

    def compute_top_k_from_training_dataset(
        self, x: Samples, k: int, order: Any = "descending", batch_size: int = 256
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``k`` highest (``order="descending"``, influenciae's ``ORDER.DESCENDING``) or
        lowest (``"ascending"``) scores: ``(samples, values, indices)`` — influenciae's
        ``(training_samples, influences_values)`` (float32 ``[k, *sample_shape]``, float64
        ``[k]``), best first, plus the samples' indices in ``x`` (int64 ``[k]``). The same ranking
        as ``wbound top-k``: NaN scores last in both orders, ties to the lower index. Memory is
        O(k + batch) for an iterable too.
        """
        calc = self._calc(batch_size)
        if _arrays.is_array(x):
            xs = _arrays.samples(x)
            with reporter(self.progress, len(xs)) as report:
                indices, columns, samples = calc.top_k(xs, int(k), _order_name(order), None, report)
            return samples, columns["score"], indices
        select = _wbound.TopKSelector(int(k), _order_name(order))
        done = 0
        with reporter(self.progress, None) as report:
            for batch, _ in _arrays.batches(x):
                xs = _arrays.samples(_arrays.as_numpy(batch))
                select.set_sample_shape(list(xs.shape[1:]))
                done += len(calc.score(xs, None, report, done, None, select)["score"])
        indices, columns, samples = select.finish()
        return samples, columns["score"], indices
