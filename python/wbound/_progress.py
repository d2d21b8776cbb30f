"""The progress of a run: a tqdm bar when tqdm is installed, a callable ``progress(done, total)``,
or nothing."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Optional, Union

ProgressArg = Union[None, bool, Callable[[int, Optional[int]], Any]]


@contextlib.contextmanager
def reporter(progress: ProgressArg, total: Optional[int]) -> Iterator[Optional[Callable[[int, Optional[int]], Any]]]:
    """The callback the engine calls with ``(done, total)``, for ``progress``:

    - ``None`` (default): a tqdm bar on stderr if tqdm is installed, shown once a run has lasted a
      second (so short runs print nothing); else nothing;
    - ``False``: nothing; ``True``: a tqdm bar (tqdm must be installed);
    - a callable: called with ``(done, total)`` after every batch, from the calling thread.
    """
    if callable(progress):
        yield progress
        return
    if progress is False:
        yield None
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if progress is True:
            raise ImportError("progress=True needs tqdm: pip install tqdm") from None
        yield None
        return
    bar = tqdm(total=total, unit="sample", delay=0 if progress is True else 1.0, leave=False)
    try:
        yield lambda done, _total: bar.update(done - bar.n)
    finally:
        bar.close()
