"""``wbound.Model``: an ONNX classifier, from a file, bytes, a PyTorch module or a Keras model."""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np

from . import _wbound


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
    {'dense/kernel:0': 6, 'dense/bias:0': 2}
    >>> model.inspect()["trainable"]
    8
    """

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
                    torch.onnx.export(module, (x,), buffer, dynamo=False, **options)
                except TypeError:  # a torch without the `dynamo` argument: the TorchScript exporter
                    torch.onnx.export(module, (x,), buffer, **options)
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
        shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else tuple(model.input_shape)
        dtype = getattr(model.inputs[0], "dtype", tf.float32) if getattr(model, "inputs", None) else tf.float32
        spec = (tf.TensorSpec((None,) + tuple(shape[1:]), dtype, name="x"),)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=13)
            except Exception:  # Keras 3 models: through a tf.function of the model
                function = tf.function(lambda x: model(x, training=False), input_signature=spec)
                proto, _ = tf2onnx.convert.from_function(function, input_signature=spec, opset=13)
        return cls(proto.SerializeToString())
