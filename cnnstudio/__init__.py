"""CNN Studio: build, train and understand convolutional neural networks."""

__version__ = "0.1.0"
