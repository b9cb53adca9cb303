"""Exceptions raised by mnist_helpers.

Every error the package raises on bad input derives from `MnistHelpersError`,
so the command-line entry point and the notebook can catch one class and show
its one-line message instead of a traceback.
"""


class MnistHelpersError(Exception):
    """Base class of every error this package raises on purpose."""


class DatasetError(MnistHelpersError):
    """A dataset file is missing, damaged, or could not be downloaded."""


class ImageInputError(MnistHelpersError, ValueError):
    """An image given to `predict` cannot be turned into an MNIST-style digit."""


class ModelFileError(MnistHelpersError):
    """A saved model file is missing or is not a Keras model."""


class TrainingError(MnistHelpersError):
    """Training cannot go on: bad settings, or the loss became NaN."""
