"""TFMOT's 8-bit scheme with depthwise kernels quantized per channel, as the converter quantizes them.

TFMOT's default scheme quantizes a DepthwiseConv2D kernel "per axis" along its last axis, which for a
kernel of shape (kh, kw, in, multiplier) is the multiplier: one scale for the whole kernel when the
multiplier is 1. A depthwise layer with a batch norm folded into it has channels whose ranges differ by
orders of magnitude, so quantization-aware training then trains (and the converter then ships) a model
whose small channels round to zero. Here the kernel is quantized per output channel (in x multiplier),
the layout of LiteRT's DEPTHWISE_CONV_2D weights."""

from __future__ import annotations

from advisor.executor.tf_env import tensorflow, tfmot


def scheme():
    """The 8-bit QuantizeScheme to pass to quantize_apply (inside `scope()`)."""
    return _classes()["Scheme"]()


def scope():
    """The quantize_scope that knows this scheme's classes (for quantize_apply, cloning and loading)."""
    mot = tfmot()
    classes = _classes()
    return mot.quantization.keras.quantize_scope({name: cls for name, cls in classes.items() if name != "Scheme"})


_CACHE: dict = {}


def _classes() -> dict:
    if _CACHE:
        return _CACHE
    tf = tensorflow()
    import tf_keras

    from tensorflow_model_optimization.python.core.quantization.keras import quantizers
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry as registry_module,
        default_8bit_quantize_scheme,
    )

    class DepthwiseKernelQuantizer(quantizers.LastValueQuantizer):
        """Symmetric int8 per output channel of a depthwise kernel (kh, kw, in, multiplier)."""

        def __init__(self):
            super().__init__(num_bits=8, per_axis=True, symmetric=True, narrow_range=True)

        def build(self, tensor_shape, name, layer):
            channels = int(tensor_shape[-2]) * int(tensor_shape[-1])
            return {
                "min_var": layer.add_weight(name + "_min", shape=(channels,),
                                            initializer=tf_keras.initializers.Constant(-6.0), trainable=False),
                "max_var": layer.add_weight(name + "_max", shape=(channels,),
                                            initializer=tf_keras.initializers.Constant(6.0), trainable=False),
            }

        def __call__(self, inputs, training, weights, **kwargs):
            shape = inputs.shape
            flat = tf.reshape(inputs, (shape[0], shape[1], 1, shape[2] * shape[3]))
            return tf.reshape(super().__call__(flat, training, weights, **kwargs), shape)

        def get_config(self):
            return {}

    class DepthwiseQuantizeConfig(registry_module.Default8BitConvQuantizeConfig):
        def __init__(self, weight_attrs=("depthwise_kernel",), activation_attrs=("activation",), quantize_output=False):
            super().__init__(list(weight_attrs), list(activation_attrs), quantize_output)
            self.weight_quantizer = DepthwiseKernelQuantizer()

    class Registry(registry_module.Default8BitQuantizeRegistry):
        def __init__(self, disable_per_axis=False):
            super().__init__(disable_per_axis)
            self._layer_quantize_map[tf_keras.layers.DepthwiseConv2D] = DepthwiseQuantizeConfig()

    class Scheme(default_8bit_quantize_scheme.Default8BitQuantizeScheme):
        def get_quantize_registry(self):
            return Registry()

    _CACHE.update(Scheme=Scheme, DepthwiseKernelQuantizer=DepthwiseKernelQuantizer,
                  DepthwiseQuantizeConfig=DepthwiseQuantizeConfig)
    return _CACHE
