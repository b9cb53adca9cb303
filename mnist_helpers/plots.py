"""Draw the figures of the MNIST tutorial.

Every function builds its own figure with a fixed size, gives it a title and
labelled axes, and returns the `matplotlib.figure.Figure` without showing it;
the notebook calls ``plt.show()``. Tests can therefore inspect what was drawn.

Example:
    >>> fig = plot_class_distribution(y_train, y_test)  # doctest: +SKIP
    >>> plt.show()  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import SymLogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

#: Number of classes shown on the digit axes.
NUM_DIGITS = 10

TITLE_SIZE = 14
LABEL_SIZE = 12
SMALL_SIZE = 10

#: Width and height of one cell of a digit gallery, in inches.
_CELL_WIDTH = 1.1
_CELL_HEIGHT = 1.35


def _as_digit_stack(images: object, name: str = "images") -> np.ndarray:
    """Return images as an (N, H, W) array, dropping a trailing channel axis."""
    array = np.asarray(images)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise ValueError(
            f"{name} must have shape (N, 28, 28) or (N, 28, 28, 1) but has shape "
            f"{array.shape}; pass a stack of grey images such as x_train."
        )
    return array


def _grey_range(images: np.ndarray) -> tuple[float, float]:
    """Return the colour limits for grey digits: 0-255 or 0-1."""
    if np.issubdtype(images.dtype, np.integer) or images.max(initial=0) > 1:
        return 0.0, 255.0
    return 0.0, 1.0


def _digit_gallery(count: int, columns: int, title: str) -> tuple[Figure, list[Axes]]:
    """Create a figure with ``count`` image cells, ``columns`` per row."""
    if count < 1 or columns < 1:
        raise ValueError(
            f"count and columns must be at least 1 but are {count} and {columns}."
        )
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    figure, axes_grid = plt.subplots(
        rows,
        columns,
        figsize=(columns * _CELL_WIDTH, rows * _CELL_HEIGHT + 0.7),
        squeeze=False,
        layout="constrained",
    )
    figure.suptitle(title, fontsize=TITLE_SIZE)

    axes = list(axes_grid.ravel())
    for unused in axes[count:]:
        figure.delaxes(unused)
    for ax in axes[:count]:
        ax.set_axis_off()
    return figure, axes[:count]


def plot_samples(
    images: object,
    labels: Sequence[int] | np.ndarray,
    count: int = 20,
    columns: int = 10,
    predictions: Sequence[int] | np.ndarray | None = None,
    title: str = "Sample training images with their labels",
) -> Figure:
    """Show the first ``count`` digits in a grid with their labels.

    Args:
        images: Digits of shape (N, 28, 28) or (N, 28, 28, 1), uint8 in 0-255
            or float in 0-1.
        labels: True digit of each image.
        count: How many images to show; fewer if there are fewer images.
        columns: Images per row.
        predictions: Predicted digit of each image; when given, each title
            reads "true 3 / pred 5" and wrong predictions are drawn in red.
        title: Title of the whole figure.

    Returns:
        The figure, with one axes per digit shown.
    """
    digits = _as_digit_stack(images)
    if len(digits) == 0:
        raise ValueError("images is empty; pass at least one image to show.")
    labels = np.asarray(labels)
    if len(labels) != len(digits):
        raise ValueError(
            f"Got {len(digits)} images but {len(labels)} labels; pass one label "
            "per image."
        )
    if predictions is not None:
        predictions = np.asarray(predictions)
        if len(predictions) != len(digits):
            raise ValueError(
                f"Got {len(digits)} images but {len(predictions)} predictions; "
                "pass one prediction per image."
            )

    shown = min(count, len(digits))
    figure, axes = _digit_gallery(shown, columns, title)
    vmin, vmax = _grey_range(digits[:shown])
    for index, ax in enumerate(axes):
        ax.imshow(digits[index], cmap="gray", vmin=vmin, vmax=vmax)
        if predictions is None:
            ax.set_title(f"{labels[index]}", fontsize=LABEL_SIZE)
        else:
            wrong = predictions[index] != labels[index]
            ax.set_title(
                f"true {labels[index]}\npred {predictions[index]}",
                fontsize=SMALL_SIZE,
                color="tab:red" if wrong else "black",
            )
    return figure


def _digit_counts(labels: object, name: str) -> np.ndarray:
    """Count the labels of each digit 0-9."""
    array = np.asarray(labels).astype(np.int64, copy=False).ravel()
    if array.size and (array.min() < 0 or array.max() >= NUM_DIGITS):
        raise ValueError(
            f"{name} must hold digits 0-9 but ranges from {array.min()} to "
            f"{array.max()}; pass the label arrays, such as y_train."
        )
    return np.bincount(array, minlength=NUM_DIGITS)


def plot_class_distribution(y_train: object, y_test: object | None = None) -> Figure:
    """Draw a bar chart of how many images there are of each digit.

    Args:
        y_train: Training labels.
        y_test: Test labels; when given, drawn as a second bar next to each
            training bar, with a legend.

    Returns:
        The figure, with one axes.
    """
    digits = np.arange(NUM_DIGITS)
    train_counts = _digit_counts(y_train, "y_train")
    figure, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")

    if y_test is None:
        ax.bar(digits, train_counts, color="tab:blue", label="Training set")
    else:
        test_counts = _digit_counts(y_test, "y_test")
        width = 0.4
        ax.bar(
            digits - width / 2,
            train_counts,
            width,
            color="tab:blue",
            label=f"Training set ({train_counts.sum():,} images)",
        )
        ax.bar(
            digits + width / 2,
            test_counts,
            width,
            color="tab:orange",
            label=f"Test set ({test_counts.sum():,} images)",
        )
        ax.legend(fontsize=SMALL_SIZE)

    ax.set_xticks(digits)
    ax.set_xlabel("Digit", fontsize=LABEL_SIZE)
    ax.set_ylabel("Number of images", fontsize=LABEL_SIZE)
    ax.set_title("Number of images of each digit", fontsize=TITLE_SIZE)
    return figure


def _draw_histogram(
    ax: Axes, values: np.ndarray, bins: int, value_range: tuple[float, float]
) -> None:
    """Draw a histogram of ``values`` computed with numpy (fast on 47M pixels)."""
    counts, edges = np.histogram(values, bins=bins, range=value_range)
    ax.hist(edges[:-1], bins=edges, weights=counts, color="tab:blue")
    ax.set_yscale("log")
    ax.set_xlabel("Pixel value", fontsize=LABEL_SIZE)
    ax.set_ylabel("Number of pixels (log scale)", fontsize=LABEL_SIZE)


def plot_pixel_histograms(
    raw_images: object, scaled_images: object, bins: int = 64
) -> Figure:
    """Compare pixel values before and after scaling to [0, 1].

    The y axis is logarithmic because most MNIST pixels are 0 (background):
    on a linear axis every other bar would be invisible next to that one.

    Args:
        raw_images: Images as loaded, uint8 in 0-255 (any shape).
        scaled_images: The same images scaled to [0, 1] (any shape).
        bins: Number of bars in each histogram; 64 puts 4 grey levels in
            each bar of the raw histogram.

    Returns:
        The figure, with two axes: before and after scaling.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1 but is {bins}; use for example 64.")
    raw = np.asarray(raw_images).ravel()
    scaled = np.asarray(scaled_images).ravel()

    figure, (raw_ax, scaled_ax) = plt.subplots(
        1, 2, figsize=(11, 4), layout="constrained"
    )
    _draw_histogram(raw_ax, raw, bins, (0, 256))
    raw_ax.set_title("Before scaling: 0 to 255", fontsize=LABEL_SIZE)
    _draw_histogram(scaled_ax, scaled, bins, (0, 1))
    scaled_ax.set_title("After scaling: 0 to 1", fontsize=LABEL_SIZE)
    figure.suptitle("Pixel values of the images", fontsize=TITLE_SIZE)
    return figure


def _history_dict(history: Any) -> Mapping[str, Sequence[float]]:
    """Return the metrics dict of a Keras History, or the dict itself."""
    metrics = getattr(history, "history", history)
    if not isinstance(metrics, Mapping):
        raise TypeError(
            f"Expected a Keras History or its .history dict but got "
            f"{type(history).__name__}; pass the value returned by model.fit."
        )
    return metrics


def _accuracy_key(metrics: Mapping[str, Sequence[float]]) -> str:
    """Find the training accuracy key: 'accuracy' or another '*accuracy'."""
    if "accuracy" in metrics:
        return "accuracy"
    for key in metrics:
        if key.endswith("accuracy") and not key.startswith("val_"):
            return key
    raise ValueError(
        f"The history has no accuracy (keys: {sorted(metrics)}); compile the model "
        "with metrics=['accuracy']."
    )


def _plot_metric(
    ax: Axes, metrics: Mapping[str, Sequence[float]], key: str, label: str
) -> None:
    """Plot one metric for training and, when present, validation."""
    training = np.asarray(metrics[key], dtype=np.float64)
    epochs = np.arange(1, len(training) + 1)
    ax.plot(epochs, training, marker="o", label="Training")

    validation_key = f"val_{key}"
    if validation_key in metrics:
        validation = np.asarray(metrics[validation_key], dtype=np.float64)
        if len(validation) != len(training):
            raise ValueError(
                f"The history has {len(training)} values of '{key}' but "
                f"{len(validation)} of '{validation_key}'; fit without "
                "validation_freq so validation runs after every epoch."
            )
        ax.plot(epochs, validation, marker="o", label="Validation")

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Epoch", fontsize=LABEL_SIZE)
    ax.set_ylabel(label, fontsize=LABEL_SIZE)
    ax.set_title(f"{label} per epoch", fontsize=LABEL_SIZE)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=SMALL_SIZE)


def plot_history(history: Any) -> Figure:
    """Plot accuracy and loss per epoch for training and validation.

    Args:
        history: The `keras.callbacks.History` returned by ``model.fit``, or
            its ``.history`` dict with keys "accuracy" and "loss", and
            optionally "val_accuracy" and "val_loss". Validation values must
            exist for every epoch (no ``validation_freq``).

    Returns:
        The figure, with two axes: accuracy (left) and loss (right), epochs
        numbered from 1.
    """
    metrics = _history_dict(history)
    if "loss" not in metrics:
        raise ValueError(
            f"The history has no 'loss' (keys: {sorted(metrics)}); pass the "
            "History returned by model.fit."
        )
    if len(metrics["loss"]) == 0:
        raise ValueError(
            "The history has no epochs; train for at least one epoch first."
        )

    figure, (accuracy_ax, loss_ax) = plt.subplots(
        1, 2, figsize=(11, 4), layout="constrained"
    )
    _plot_metric(accuracy_ax, metrics, _accuracy_key(metrics), "Accuracy")
    _plot_metric(loss_ax, metrics, "loss", "Loss")
    figure.suptitle("Training history", fontsize=TITLE_SIZE)
    return figure


def plot_confusion_matrix(matrix: object, normalize: bool = False) -> Figure:
    """Draw a confusion matrix with the value written in every cell.

    The colours use a symmetric-log scale (linear below 1 image, or below
    0.1% when normalised, and logarithmic above), so cells with a handful of
    errors are visibly coloured next to diagonal cells with a thousand correct
    predictions; on a linear scale they would look white. White text is used
    on dark cells.

    Args:
        matrix: Square matrix of counts, rows = true digit, columns =
            predicted digit, as returned by
            `mnist_helpers.evaluation.confusion_matrix`.
        normalize: If True, divide each row by its total and write the share
            of each true digit as a percentage; a row with no images shows
            "n/a".

    Returns:
        The figure, with the matrix axes and a colorbar axes.
    """
    counts = np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.size == 0:
        raise ValueError(
            f"The confusion matrix must be square but has shape {counts.shape}; "
            "pass the result of confusion_matrix(y_true, y_pred)."
        )
    if not np.all(np.isfinite(counts)) or counts.min() < 0:
        raise ValueError(
            "The confusion matrix must hold non-negative counts; pass the result "
            "of confusion_matrix(y_true, y_pred)."
        )
    size = counts.shape[0]

    if normalize:
        row_totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(
            counts,
            row_totals,
            out=np.zeros(counts.shape),
            where=row_totals > 0,
        )
        norm = SymLogNorm(linthresh=0.001, vmin=0.0, vmax=1.0)
        colorbar_label = "Share of the true digit's images"
        title = "Confusion matrix (each row sums to 100%)"
    else:
        values = counts
        norm = SymLogNorm(linthresh=1.0, vmin=0.0, vmax=max(1.0, counts.max()))
        colorbar_label = "Number of images (log scale)"
        title = "Confusion matrix"

    figure, ax = plt.subplots(figsize=(8, 7), layout="constrained")
    image = ax.imshow(values, cmap="Blues", norm=norm)
    colorbar = figure.colorbar(image, ax=ax)
    colorbar.set_label(colorbar_label, fontsize=LABEL_SIZE)
    if normalize:
        shares = [0.0, 0.001, 0.01, 0.1, 1.0]
        colorbar.set_ticks(shares, labels=["0%", "0.1%", "1%", "10%", "100%"])

    counts_are_integers = np.issubdtype(counts.dtype, np.integer)
    for row in range(size):
        for column in range(size):
            value = values[row, column]
            if normalize:
                text = f"{value:.1%}" if row_totals[row, 0] > 0 else "n/a"
            elif counts_are_integers:
                text = str(value)
            else:
                text = f"{value:g}"
            dark_cell = norm(value) > 0.6
            ax.text(
                column,
                row,
                text,
                ha="center",
                va="center",
                fontsize=SMALL_SIZE - 1 if normalize else SMALL_SIZE,
                color="white" if dark_cell else "black",
            )

    ticks = np.arange(size)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("Predicted digit", fontsize=LABEL_SIZE)
    ax.set_ylabel("True digit", fontsize=LABEL_SIZE)
    ax.set_title(title, fontsize=TITLE_SIZE)
    return figure


def plot_mistakes(
    images: object,
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    confidences: Sequence[float] | np.ndarray,
    indices: Sequence[int] | np.ndarray,
    count: int = 24,
    columns: int = 8,
) -> Figure:
    """Show a gallery of misclassified digits with what the model thought.

    The images are shown in the order of ``indices``; to see the most
    confident mistakes first, sort them before calling, for example
    ``indices[np.argsort(-confidences[indices])]``.

    Args:
        images: All images, shape (N, 28, 28) or (N, 28, 28, 1).
        y_true: True digit of each of the N images.
        y_pred: Predicted digit of each of the N images.
        confidences: Probability the model gave its prediction, per image.
        indices: Which images to show, such as
            `mnist_helpers.evaluation.misclassified_indices`.
        count: How many to show at most.
        columns: Images per row.

    Returns:
        The figure, with one axes per image shown; titles read
        "true 4\\npred 9 (87%)". With no indices, one axes saying so.
    """
    digits = _as_digit_stack(images)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    confidences = np.asarray(confidences, dtype=np.float64)
    indices = np.asarray(indices, dtype=np.int64).ravel()
    for name, array in (("y_true", y_true), ("y_pred", y_pred)):
        if len(array) != len(digits):
            raise ValueError(
                f"Got {len(digits)} images but {len(array)} values in {name}; pass "
                "one value per image."
            )
    if len(confidences) != len(digits):
        raise ValueError(
            f"Got {len(digits)} images but {len(confidences)} confidences; pass "
            "one value per image."
        )
    if indices.size and (indices.min() < 0 or indices.max() >= len(digits)):
        raise ValueError(
            f"indices must lie between 0 and {len(digits) - 1} but range from "
            f"{indices.min()} to {indices.max()}; pass positions in images."
        )

    if indices.size == 0:
        figure, ax = plt.subplots(figsize=(6, 2), layout="constrained")
        ax.set_axis_off()
        ax.text(
            0.5,
            0.5,
            "No mistakes to show",
            ha="center",
            va="center",
            fontsize=LABEL_SIZE,
        )
        figure.suptitle("Misclassified images", fontsize=TITLE_SIZE)
        return figure

    shown = indices[:count]
    title = f"{len(shown)} of {len(indices)} misclassified images"
    figure, axes = _digit_gallery(len(shown), columns, title)
    vmin, vmax = _grey_range(digits[shown])
    for ax, index in zip(axes, shown, strict=True):
        ax.imshow(digits[index], cmap="gray", vmin=vmin, vmax=vmax)
        ax.set_title(
            f"true {y_true[index]}\npred {y_pred[index]} ({confidences[index]:.0%})",
            fontsize=SMALL_SIZE,
        )
    return figure
