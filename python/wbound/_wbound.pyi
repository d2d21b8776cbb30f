# Type stubs of the native module wbound._wbound (python/src/*.rs); tests/test_stubs.py checks
# that every signature here is the one the module has at run time.
import os
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base, final

__all__ = ["Model", "Calculator", "CheckpointCalculator", "TopKSelector", "COLUMNS", "CHECKPOINT_COLUMNS", "__version__"]

COLUMNS: list[str]
CHECKPOINT_COLUMNS: list[str]
__version__: str

_Progress = Optional[Callable[[int, Optional[int]], Any]]

@disjoint_base
class Model:
    def __new__(cls, source: Union[str, "os.PathLike[str]", bytes, bytearray]) -> "Model": ...
    @property
    def input_shape(self) -> tuple[int, ...]: ...
    @property
    def num_classes(self) -> int: ...
    @property
    def parameters(self) -> dict[str, int]: ...
    @property
    def path(self) -> Optional[str]: ...
    def to_bytes(self) -> bytes: ...
    def inspect(self) -> dict[str, Any]: ...
    def weights(self) -> dict[str, npt.NDArray[np.float32]]: ...
    def _with_weights(self, weights: Union[dict[str, npt.NDArray[np.float32]], str]) -> bytes: ...

@final
class Calculator:
    def __new__(
        cls,
        model: Model,
        *,
        steps: int,
        norm: str,
        eps: float,
        params: str,
        reference: str,
        batch_size: int,
        threads: Optional[int],
        skip_invalid: bool,
    ) -> "Calculator": ...
    def validate(self, x: npt.NDArray[np.float32], labels: Optional[npt.NDArray[np.int64]] = None) -> None: ...
    def score(
        self,
        x: npt.NDArray[np.float32],
        labels: Optional[npt.NDArray[np.int64]] = None,
        progress: _Progress = None,
        start: int = 0,
        total: Optional[int] = None,
        select: Optional["TopKSelector"] = None,
    ) -> dict[str, Any]: ...
    def top_k(
        self,
        x: npt.NDArray[np.float32],
        k: int,
        order: str,
        labels: Optional[npt.NDArray[np.int64]] = None,
        progress: _Progress = None,
    ) -> tuple[npt.NDArray[np.int64], dict[str, Any], npt.NDArray[np.float32]]: ...

@final
class TopKSelector:
    def __new__(cls, k: int, order: str) -> "TopKSelector": ...
    def set_sample_shape(self, shape: list[int]) -> None: ...
    def finish(self) -> tuple[npt.NDArray[np.int64], dict[str, Any], npt.NDArray[np.float32]]: ...

@final
class CheckpointCalculator:
    def __new__(
        cls,
        models: Sequence[Model],
        *,
        steps: int,
        early_steps: Optional[int],
        norm: str,
        eps: float,
        params: str,
        batch_size: int,
        threads: Optional[int],
        skip_invalid: bool,
    ) -> "CheckpointCalculator": ...
    def score(
        self,
        x: npt.NDArray[np.float32],
        labels: Optional[npt.NDArray[np.int64]] = None,
        progress: _Progress = None,
        per_checkpoint: bool = False,
    ) -> dict[str, Any]: ...
    def __len__(self) -> int: ...
