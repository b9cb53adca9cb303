"""Turn the raw uint8 digits into the float tensors the models train on.

Shapes and dtypes through the pipeline:

- `load_mnist()` gives images of shape (N, 28, 28), dtype uint8, values 0-255,
  and labels of shape (N,), dtype uint8, values 0-9.
- `scale_images()` gives (N, 28, 28, 1), dtype float32, values in [0, 1]: the
  last axis is the single grey "channel" that `keras.layers.Conv2D` expects.
- `split_train_validation()` keeps shapes and dtypes, and only picks rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["scale_images", "split_train_validation"]


def scale_images(images: np.ndarray) -> np.ndarray:
    """Scale uint8 grey levels to float32 in [0, 1] and add a channel axis.

    Args:
        images: Array of shape (N, 28, 28) or (N, 28, 28, 1) with values 0-255.

    Returns:
        Array of shape (N, 28, 28, 1), dtype float32, values in [0, 1].

    Raises:
        ValueError: If the array is not a stack of 2-D images, or holds values
            outside 0-255.

    Example:
        >>> scale_images(np.full((2, 28, 28), 255, dtype=np.uint8)).max()
        np.float32(1.0)
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(
            f"scale_images expects images of shape (N, height, width), got shape "
            f"{images.shape}; pass x_train or x_test as returned by load_mnist()."
        )
    if images.size and (images.min() < 0 or images.max() > 255):
        raise ValueError(
            f"scale_images expects grey levels 0-255, got values from {images.min()} "
            f"to {images.max()}; pass the raw uint8 images, not already scaled ones."
        )

    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def split_train_validation(
    images: np.ndarray,
    labels: np.ndarray,
    validation_size: int | float = 5000,
    seed: int = 0,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Hold out a random, reproducible validation set from the training data.

    The same seed always picks the same rows, so a run can be repeated exactly
    and two recipes can be compared on the same validation images.

    Args:
        images: Training images, any shape whose first axis is the example axis.
        labels: Training labels, one per image.
        validation_size: Number of validation examples, or a fraction in (0, 1).
        seed: Seed of the shuffle that picks the validation rows.

    Returns:
        `(x_train, y_train), (x_validation, y_validation)`.

    Raises:
        ValueError: If images and labels differ in length, or the size leaves
            no example on one side.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(
            f"Got {len(images)} images but {len(labels)} labels; pass matching "
            "arrays, for example x_train with y_train."
        )
    count = len(images)
    if isinstance(validation_size, float) and 0 < validation_size < 1:
        validation_count = int(round(count * validation_size))
    else:
        validation_count = int(validation_size)
    if not 0 < validation_count < count:
        raise ValueError(
            f"validation_size={validation_size!r} leaves no example for training or "
            f"validation out of {count}; use a count between 1 and {count - 1} or a "
            "fraction between 0 and 1."
        )

    order = np.random.default_rng(seed).permutation(count)
    validation_rows = np.sort(order[:validation_count])
    train_rows = np.sort(order[validation_count:])

    return (
        (images[train_rows], labels[train_rows]),
        (images[validation_rows], labels[validation_rows]),
    )
