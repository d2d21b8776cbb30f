"""Samples and labels as the engine takes them: float32, C-contiguous (no copy when they already
are), and iterables of batches (numpy arrays, torch or TensorFlow tensors, ``(x, y)`` pairs)."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional

import numpy as np

from ._errors import DataError


def samples(x: Any) -> np.ndarray:
    """``x`` as a float32 C-contiguous array (a view when it already is one); any float, int or
    uint dtype is converted (as ``x.astype(np.float32)``, the conversion the CLI makes)."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiu":
        raise DataError(f"x has dtype {a.dtype}; wbound scores arrays of a float, int or uint dtype")
    return np.ascontiguousarray(a, dtype=np.float32)


def labels(y: Any, n: Optional[int] = None) -> Optional[np.ndarray]:
    """``y`` as int64 labels, one per sample (``None`` stays ``None``)."""
    if y is None:
        return None
    a = np.asarray(y)
    if a.dtype.kind not in "iub" and not (a.dtype.kind == "f" and a.size and np.all(a == np.round(a))):
        raise DataError(f"labels have dtype {a.dtype}; give integer class indices")
    if a.ndim != 1:
        raise DataError(f"labels have shape {list(a.shape)}; give one integer label per sample, shape [N]")
    return np.ascontiguousarray(a, dtype=np.int64)


def is_array(x: Any) -> bool:
    """Whether ``x`` is one array (numpy, or anything with ``__array__``: torch and TensorFlow
    tensors), scored as a whole, rather than an iterable of batches (a list, a generator, a
    ``tf.data.Dataset``, a torch ``DataLoader``)."""
    return isinstance(x, np.ndarray) or hasattr(x, "__array__")


def batches(x: Iterable[Any]) -> Iterator[tuple[Any, Optional[Any]]]:
    """The batches of an iterable, each as ``(x, y)`` (``y`` is ``None`` unless the iterable
    yields pairs, as ``tf.data`` and torch ``DataLoader`` do)."""
    for item in x:
        if isinstance(item, (tuple, list)) and len(item) in (1, 2) and not np.isscalar(item[0]):
            yield item[0], (item[1] if len(item) == 2 else None)
        else:
            yield item, None


def as_numpy(x: Any) -> np.ndarray:
    """A batch (numpy array, torch tensor, TensorFlow tensor) as numpy."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch
        x = x.detach().cpu().numpy()
    elif hasattr(x, "numpy") and not isinstance(x, np.ndarray):  # TensorFlow eager tensors
        x = x.numpy()
    return np.asarray(x)
