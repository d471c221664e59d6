"""Engine layers. Importing this package registers every layer type in ``LAYER_TYPES``."""

from cnnstudio.engine.layers.base import LAYER_TYPES, Layer, Shape, layer_from_config, register_layer

__all__ = ["LAYER_TYPES", "Layer", "Shape", "layer_from_config", "register_layer"]
