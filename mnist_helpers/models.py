"""The tutorial's models, each a short list of named Keras layers.

- `build_cnn`: the tutorial's convolutional network, lean enough to train in
  under a minute on a laptop CPU, on images shifted by up to two pixels.
- `build_mlp`: the feed-forward baseline of the original brief (784 inputs,
  hidden ReLU layers, softmax over the 10 digits).
- `build_wide_cnn`: the same network with twice the filters, for the slower,
  more accurate `best` recipe.
- `build_reference_cnn`: the official Keras "simple MNIST convnet", kept for the
  side-by-side benchmark.

All models take (28, 28, 1) float32 images in [0, 1] and return 10 softmax
probabilities, so any of them can be trained, evaluated and saved the same way.
"""

from __future__ import annotations

import keras
from keras import layers

__all__ = [
    "MODEL_BUILDERS",
    "build_cnn",
    "build_mlp",
    "build_reference_cnn",
    "build_wide_cnn",
]

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def _conv_block(x, filters: int, kernel_size: int, name: str):
    """Apply convolution, 2x2 max pooling, batch normalisation and ReLU."""
    x = layers.Conv2D(filters, kernel_size, use_bias=False, name=f"{name}_conv")(x)
    x = layers.MaxPooling2D(name=f"{name}_pool")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_norm")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_cnn(
    filters: tuple[int, int] = (16, 32),
    dense_units: int = 256,
    dropout: float = 0.3,
    shift: float = 0.08,
    name: str = "mnist_cnn",
) -> keras.Model:
    """Build the tutorial's CNN: two convolution blocks and a small dense head.

    During training, a `RandomTranslation` layer first moves each image by up to
    `shift` of its size in each direction (0.08 is about two pixels), so the
    network sees a slightly different copy of every digit at every epoch and
    learns that a digit's position does not matter. It does nothing when
    predicting.

    Each block is a convolution, 2x2 max pooling, batch normalisation and ReLU.
    Pooling comes straight after the convolution, so normalisation works on a
    quarter of the pixels: the same model as normalising first, for less CPU.

    Args:
        filters: Output channels of the first (5x5) and second (3x3) convolution.
        dense_units: Size of the hidden dense layer before the output.
        dropout: Fraction of hidden units dropped during training.
        shift: Largest random shift of a training image, as a fraction of its
            size; 0 turns the augmentation off.
        name: Name of the returned model.

    Returns:
        An uncompiled `keras.Model` from (28, 28, 1) images to 10 probabilities.
    """
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = inputs
    if shift > 0:
        x = layers.RandomTranslation(
            shift, shift, fill_mode="constant", name="random_shift"
        )(x)
    x = _conv_block(x, filters[0], 5, name="block1")
    x = _conv_block(x, filters[1], 3, name="block2")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, use_bias=False, name="hidden")(x)
    x = layers.BatchNormalization(momentum=0.9, name="hidden_norm")(x)
    x = layers.ReLU(name="hidden_relu")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="digit")(x)
    return keras.Model(inputs, outputs, name=name)


def build_mlp(
    hidden_units: tuple[int, ...] = (256, 128),
    dropout: float = 0.2,
    name: str = "mnist_mlp",
) -> keras.Model:
    """Build the feed-forward baseline: flatten, hidden ReLU layers, softmax.

    Args:
        hidden_units: Size of each hidden layer, in order.
        dropout: Fraction of units dropped after each hidden layer in training.
        name: Name of the returned model.

    Returns:
        An uncompiled `keras.Model` from (28, 28, 1) images to 10 probabilities.
    """
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.Flatten(name="flatten")(inputs)
    for index, units in enumerate(hidden_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"hidden{index}")(x)
        x = layers.Dropout(dropout, name=f"dropout{index}")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="digit")(x)
    return keras.Model(inputs, outputs, name=name)


def build_reference_cnn(name: str = "keras_example_cnn") -> keras.Model:
    """Build the official Keras "simple MNIST convnet" example, for comparison.

    Returns:
        An uncompiled `keras.Model`: Conv32-pool-Conv64-pool-dropout-dense.
    """
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.Conv2D(32, 3, activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(64, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.5, name="dropout")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="digit")(x)
    return keras.Model(inputs, outputs, name=name)


def build_wide_cnn(name: str = "mnist_cnn_wide") -> keras.Model:
    """Build the tutorial's CNN with twice the filters, for `--recipe best`.

    Returns:
        An uncompiled `keras.Model` with twice the filters of `build_cnn()`.
    """
    return build_cnn(filters=(32, 64), name=name)


MODEL_BUILDERS = {
    "cnn": build_cnn,
    "cnn_wide": build_wide_cnn,
    "mlp": build_mlp,
    "reference": build_reference_cnn,
}
