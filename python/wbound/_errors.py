"""wbound's exceptions. Each library error is raised as the class of its kind with the library's
message (the line the ``wbound`` CLI prints after ``error:``).

=========================  =====================================================  ==============================
class                      raised for                                             also a
=========================  =====================================================  ==============================
``WboundError``            the base of all of them (and a worker thread's panic)  ``Exception``
``ModelError``             bytes that are not a valid ONNX model, graph problems  ``ValueError``
``UnsupportedModelError``  ops wbound lacks (every one named), ops used in ways   ``WboundError``
                           it cannot handle
``DataError``              the samples' shape, dtype, labels, NaN/inf, no samples ``ValueError``
``SettingError``           a setting's value (eps, params, norm, k, ...)          ``ValueError``
``ResourceError``          a run that would need more memory than allowed         ``MemoryError``
``WboundOSError``          a file that cannot be read                             ``OSError``
``MissingFileError``       a file that does not exist                             ``FileNotFoundError``
``NotSupportedYetError``   what is planned but not there yet                      ``NotImplementedError``
=========================  =====================================================  ==============================

Ctrl-C during a run raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

__all__ = [
    "WboundError",
    "ModelError",
    "UnsupportedModelError",
    "DataError",
    "SettingError",
    "ResourceError",
    "WboundOSError",
    "MissingFileError",
    "NotSupportedYetError",
]


class WboundError(Exception):
    """The base of every error wbound raises."""


class ModelError(WboundError, ValueError):
    """The model is not a valid ONNX classifier (truncated bytes, no graph, bad inputs or outputs)."""


class UnsupportedModelError(WboundError):
    """The model uses ops wbound does not implement (the message names every one, with its
    first node), or uses a supported op in a way wbound cannot handle."""


class DataError(WboundError, ValueError):
    """The samples or labels do not fit the model or cannot be scored (shape, dtype, NaN/inf,
    labels out of range, no samples)."""


class SettingError(WboundError, ValueError):
    """A setting has an invalid value (eps, params, norm, reference, k, threads, batch_size)."""


class ResourceError(WboundError, MemoryError):
    """The run would need more memory than allowed."""


class WboundOSError(WboundError, OSError):
    """A file could not be read."""


class MissingFileError(WboundOSError, FileNotFoundError):
    """A file does not exist."""


class NotSupportedYetError(WboundError, NotImplementedError):
    """Something planned that this version does not do yet."""
