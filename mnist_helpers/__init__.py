"""Helpers for the Keras MNIST tutorial: the plumbing, so the notebook can teach.

Modules, in the order the tutorial uses them:

- `environment`: check versions, the Keras backend and the devices.
- `data`: load MNIST offline from the shipped copy (or a cache or a download).
- `preprocessing`: scale images to [0, 1] and split off a validation set.
- `models`: the tutorial's CNN and the feed-forward baseline.
- `training`: seeds, recipes, callbacks, safe saving and resuming.
- `evaluation`: confusion matrix, per-class accuracy, mistakes, predictions.
- `images`: turn any digit image into an MNIST-style 28x28 input.
- `plots`: every figure the notebook shows.

Importing the package itself is cheap: TensorFlow is only imported by the modules
that need it.
"""

from mnist_helpers.data import load_mnist
from mnist_helpers.errors import MnistHelpersError
from mnist_helpers.preprocessing import scale_images, split_train_validation

__version__ = "1.0.0"

__all__ = [
    "MnistHelpersError",
    "__version__",
    "load_mnist",
    "scale_images",
    "split_train_validation",
]
