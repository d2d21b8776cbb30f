"""``wbound.Model``: an ONNX classifier, from a file, bytes, a PyTorch module or a Keras model."""

from __future__ import annotations

import io
import os
import warnings
from typing import Any, Mapping

import numpy as np

from . import _wbound
from ._errors import WboundError


class Model(_wbound.Model):
    """A classifier exported to ONNX, with logits (or probabilities) as its output.

    ``source`` is a path (``str`` or ``os.PathLike``) to an ``.onnx`` file, or the file's
    ``bytes``. A file that does not exist raises ``FileNotFoundError``; ops wbound lacks raise
    :class:`wbound.UnsupportedModelError` naming every one.

    >>> import wbound
    >>> model = wbound.Model("tests/fixtures/linear/model.onnx")
    >>> model.input_shape, model.num_classes
    ((3,), 2)
    >>> model.parameters
    {'linear/dense/MatMul/ReadVariableOp:0': 6, 'linear/dense/BiasAdd/ReadVariableOp:0': 2}
    >>> model.inspect()["trainable"]
    8
    """

    def with_weights(self, weights: Any) -> "Model":
        """This model with other weights: ``weights`` is a mapping of initializer names to arrays
        (a PyTorch ``state_dict()``, torch tensors or numpy arrays; integer tensors such as
        ``num_batches_tracked`` are skipped) or the path of a safetensors file
        (``safetensors.torch.save_file(model.state_dict(), path)``). Every tensor must match an
        initializer of the model of the same shape, and every trainable parameter must be given;
        otherwise :class:`wbound.ModelError` lists the names that do not fit.

        >>> import numpy as np, wbound
        >>> m = wbound.Model("tests/fixtures/linear/model.onnx")
        >>> w = {"linear/dense/MatMul/ReadVariableOp:0": np.ones((3, 2), np.float32)}
        >>> w["linear/dense/BiasAdd/ReadVariableOp:0"] = np.array([0.0, 1.0], np.float32)
        >>> wbound.score(m.with_weights(w), np.zeros((1, 3), np.float32), progress=False).original_class.tolist()
        [1]
        """
        if isinstance(weights, Mapping):
            arrays = {}
            for name, value in weights.items():
                if hasattr(value, "detach"):
                    value = value.detach().cpu().numpy()
                a = np.asarray(value)
                if a.dtype.kind != "f":
                    continue
                arrays[str(name)] = np.ascontiguousarray(a, dtype=np.float32)
            return Model(self._with_weights(arrays))
        return Model(self._with_weights(os.fspath(weights)))

    @classmethod
    def from_torch(cls, module: Any, example_input: Any, keep_batchnorm: bool = True) -> "Model":
        """Exports a ``torch.nn.Module`` to ONNX (``torch.onnx``'s TorchScript exporter, opset 17,
        a dynamic batch axis) and loads it. ``example_input`` is one batch the module takes (a
        tensor or a numpy array; one sample is enough, ``x[:1]``).

        The module is exported in ``eval()`` mode (its mode is restored after). With
        ``keep_batchnorm`` (default) BatchNorm layers stay layers of their own
        (``training=TrainingMode.PRESERVE, do_constant_folding=False``), so their scale and shift
        are parameters that move, as in PyTorch; ``keep_batchnorm=False`` folds them into the
        preceding convolution (torch's default export), which changes the weight space and the
        scores. Needs ``torch`` (and ``onnx``): ``pip install torch onnx``.
        """
        try:
            import torch
        except ImportError:
            raise ImportError("Model.from_torch needs PyTorch: pip install torch onnx") from None
        x = example_input if isinstance(example_input, torch.Tensor) else torch.as_tensor(np.asarray(example_input))
        options: dict[str, Any] = dict(
            input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "N"}}, opset_version=17
        )
        if keep_batchnorm:
            options.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
        was_training = module.training
        module.eval()
        buffer = io.BytesIO()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    torch.onnx.export(module, (x,), buffer, dynamo=False, **options)  # type: ignore[arg-type]
                except TypeError:  # a torch without the `dynamo` argument: the TorchScript exporter
                    torch.onnx.export(module, (x,), buffer, **options)  # type: ignore[arg-type]
        finally:
            module.train(was_training)
        return cls(buffer.getvalue())

    @classmethod
    def from_keras(cls, model: Any) -> "Model":
        """Exports a Keras model to ONNX through tf2onnx (opset 13, a dynamic batch axis) and
        loads it. tf2onnx folds BatchNormalization into the preceding layer, and drops biases that
        are exactly zero (an untrained layer), which removes them from the weight space. Needs
        ``tensorflow`` and ``tf2onnx``: ``pip install tensorflow tf2onnx``.
        """
        try:
            import tensorflow as tf
            import tf2onnx
        except ImportError:
            raise ImportError("Model.from_keras needs TensorFlow and tf2onnx: pip install tensorflow tf2onnx") from None
        inputs = getattr(model, "inputs", None)
        shape = tuple(inputs[0].shape) if inputs else tuple(model.input_shape)
        dtype = getattr(inputs[0], "dtype", tf.float32) if inputs else tf.float32

        def spec(batch: Any) -> tuple[Any, ...]:
            return (tf.TensorSpec((batch,) + tuple(shape[1:]), dtype, name="x"),)

        def keras_2() -> Any:  # tf2onnx's Keras route, a dynamic batch axis
            return tf2onnx.convert.from_keras(model, input_signature=spec(None), opset=13)[0]

        def keras_3() -> Any:
            # Keras 3 models go through a tf.function; a static batch of 1 lets tf2onnx fold the
            # shape arithmetic of Flatten (wbound scores one sample at a time anyway).
            function = tf.function(lambda x: model(x, training=False), input_signature=spec(1))
            return tf2onnx.convert.from_function(function, input_signature=spec(1), opset=13)[0]

        failure: Exception = WboundError("tf2onnx exported nothing")
        for export in (keras_2, keras_3):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    proto = export()
                return cls(proto.SerializeToString())
            except Exception as e:  # the next route; the last failure is raised
                failure = e
        raise failure
