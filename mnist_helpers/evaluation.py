"""Measure how well a digit classifier does, and load saved models.

The metric functions take plain label arrays (one integer class per image),
so they work the same on predictions from Keras or from anywhere else:

Example:
    >>> import numpy as np
    >>> y_true = np.array([0, 1, 1, 2])
    >>> y_pred = np.array([0, 1, 2, 2])
    >>> accuracy(y_true, y_pred)
    0.75
    >>> misclassified_indices(y_true, y_pred)
    array([2])
"""

from __future__ import annotations

import dataclasses
import logging
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np

from mnist_helpers.errors import ModelFileError
from mnist_helpers.images import ImageInput, prepare_digits

logger = logging.getLogger(__name__)

#: Number of classes of an MNIST classifier: the digits 0 to 9.
NUM_DIGITS = 10

#: Command that trains and saves a model, quoted in error messages.
_TRAIN_COMMAND = "python -m mnist_helpers train --save {path}"


def _as_labels(labels: object, name: str) -> np.ndarray:
    """Return ``labels`` as a 1-D int64 array, or raise a ValueError."""
    array = np.asarray(labels)
    if array.ndim != 1:
        hint = (
            "; pass class labels, for example probabilities.argmax(axis=1)"
            if array.ndim == 2
            else "; pass one integer label per image"
        )
        raise ValueError(
            f"{name} must be a 1-D array of labels but has shape {array.shape}{hint}."
        )
    if array.size == 0:
        return array.astype(np.int64)
    is_real_number = np.issubdtype(array.dtype, np.integer) or np.issubdtype(
        array.dtype, np.floating
    )
    if not is_real_number:
        raise ValueError(
            f"{name} must hold integer class labels but has dtype {array.dtype}; "
            "convert it with .astype(int)."
        )
    if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
        raise ValueError(
            f"{name} must hold whole-number class labels but contains values such "
            f"as {array[array != np.round(array)][:1]}; pass integer labels, for "
            "example probabilities.argmax(axis=1)."
        )
    return array.astype(np.int64)


def _as_label_pair(
    y_true: object, y_pred: object, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate true and predicted labels together and return them as arrays."""
    true_labels = _as_labels(y_true, "y_true")
    predicted_labels = _as_labels(y_pred, "y_pred")
    if len(true_labels) != len(predicted_labels):
        raise ValueError(
            f"y_true has {len(true_labels)} labels but y_pred has "
            f"{len(predicted_labels)}; pass the predictions for exactly the same "
            "images."
        )
    if num_classes is None:
        return true_labels, predicted_labels

    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1 but is {num_classes}.")
    for name, labels in (("y_true", true_labels), ("y_pred", predicted_labels)):
        outside = labels[(labels < 0) | (labels >= num_classes)]
        if outside.size:
            raise ValueError(
                f"{name} contains the label {outside[0]}, outside 0 to "
                f"{num_classes - 1}; check the labels or pass a larger num_classes."
            )
    return true_labels, predicted_labels


def confusion_matrix(
    y_true: object, y_pred: object, num_classes: int = NUM_DIGITS
) -> np.ndarray:
    """Count how often each true class was predicted as each class.

    Args:
        y_true: True class of each image, integers from 0 to num_classes - 1.
        y_pred: Predicted class of each image, same length as ``y_true``.
        num_classes: Number of classes; 10 for MNIST digits.

    Returns:
        An int64 array of shape (num_classes, num_classes) whose entry
        ``[t, p]`` counts the images of true class ``t`` predicted as ``p``:
        rows are true classes, columns are predicted classes, and the diagonal
        holds the correct predictions.

    Raises:
        ValueError: If the arrays differ in length, are not 1-D integer labels,
            or hold labels outside 0 to num_classes - 1.
    """
    true_labels, predicted_labels = _as_label_pair(y_true, y_pred, num_classes)
    pair_codes = true_labels * num_classes + predicted_labels
    counts = np.bincount(pair_codes, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def per_class_accuracy(
    y_true: object, y_pred: object, num_classes: int = NUM_DIGITS
) -> np.ndarray:
    """Compute the share of each true class that was predicted correctly.

    This is the recall of each class: the diagonal of the confusion matrix
    divided by its row sums.

    Args:
        y_true: True class of each image.
        y_pred: Predicted class of each image.
        num_classes: Number of classes; 10 for MNIST digits.

    Returns:
        A float64 array of length num_classes with values in [0, 1], and NaN
        for a class that does not occur in ``y_true`` (its accuracy is
        undefined, not zero).
    """
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    class_sizes = matrix.sum(axis=1)
    correct = np.diag(matrix).astype(np.float64)
    result = np.full(num_classes, np.nan)
    np.divide(correct, class_sizes, out=result, where=class_sizes > 0)
    return result


def misclassified_indices(y_true: object, y_pred: object) -> np.ndarray:
    """Return the positions where the prediction differs from the true label.

    Args:
        y_true: True class of each image.
        y_pred: Predicted class of each image.

    Returns:
        An int64 array of indices in ascending order.
    """
    true_labels, predicted_labels = _as_label_pair(y_true, y_pred)
    return np.flatnonzero(true_labels != predicted_labels).astype(np.int64)


def accuracy(y_true: object, y_pred: object) -> float:
    """Return the fraction of images whose predicted class is the true one.

    Raises:
        ValueError: If there are no labels, since the accuracy of nothing is
            undefined.
    """
    true_labels, predicted_labels = _as_label_pair(y_true, y_pred)
    if true_labels.size == 0:
        raise ValueError(
            "Cannot compute the accuracy of zero predictions; pass at least one label."
        )
    return float(np.mean(true_labels == predicted_labels))


def model_accuracy(
    model: keras.Model, images: np.ndarray, labels: object, batch_size: int = 1000
) -> float:
    """Return the fraction of `images` whose digit `model` predicts correctly.

    Unlike `model.evaluate`, this works with integer labels whatever loss the
    model was compiled with (label smoothing needs one-hot labels in training).

    Args:
        model: A trained classifier.
        images: Scaled images, shape (N, 28, 28, 1).
        labels: True class of each image, shape (N,).
        batch_size: Number of images per forward pass.
    """
    scores = model.predict(images, batch_size=batch_size, verbose=0)
    return accuracy(labels, np.asarray(scores).argmax(axis=1))


def _as_probabilities(scores: object) -> np.ndarray:
    """Validate class scores and turn logits into probabilities if needed."""
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(
            f"Expected class scores of shape (images, classes) but got shape "
            f"{array.shape}; pass the output of model.predict."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(
            "The class scores contain NaN or infinite values; the model is "
            "probably broken, so retrain it."
        )
    is_distribution = array.size == 0 or (
        array.min() >= 0 and np.allclose(array.sum(axis=1), 1.0, atol=1e-3)
    )
    if is_distribution:
        return array

    logger.info("The scores do not sum to 1, so softmax is applied to them.")
    shifted = array - array.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def predict_digits(
    model: keras.Model,
    images: np.ndarray | Iterable[ImageInput],
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Predict the digit in each picture, with the model's confidence.

    The pictures go through `mnist_helpers.images.prepare_digits` first, so
    MNIST arrays, larger photos and image file paths all work. A model whose
    last layer has no softmax (it returns logits) also works: softmax is
    applied to its scores.

    Args:
        model: A Keras model taking (N, 28, 28, 1) inputs and returning 10
            scores per image.
        images: A stacked (N, 28, 28[, 1]) array, or a list of arrays or image
            paths.
        batch_size: Number of images per forward pass.

    Returns:
        A pair ``(digits, confidences)``: the predicted digit of each image
        (int64) and the probability the model gave that digit (float64 in
        [0, 1]).

    Raises:
        ImageInputError: If a picture cannot be prepared.
        ModelFileError: If the model does not return 10 scores per image.
        ValueError: If batch_size is not a positive integer.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive integer but is {batch_size!r}; use "
            "for example 256."
        )

    digits = prepare_digits(images)
    scores = np.asarray(model.predict(digits, batch_size=batch_size, verbose=0))

    if scores.ndim != 2 or scores.shape[1] != NUM_DIGITS:
        raise ModelFileError(
            f"The model returns scores of shape {scores.shape[1:]} per image but a "
            f"digit classifier must return {NUM_DIGITS}; use a model trained on "
            "MNIST, for example with `python -m mnist_helpers train`."
        )
    probabilities = _as_probabilities(scores)
    return (
        probabilities.argmax(axis=1).astype(np.int64),
        probabilities.max(axis=1),
    )


def load_model(path: str | os.PathLike[str]) -> keras.Model:
    """Load a model saved in the Keras ``.keras`` format.

    Loading always uses ``safe_mode=True``, so a file cannot run arbitrary
    code (for example through a ``Lambda`` layer) when it is opened.

    Args:
        path: Path of a ``.keras`` file written by ``model.save``.

    Returns:
        The loaded Keras model.

    Raises:
        ModelFileError: If the file is missing, is a directory, does not end
            in ``.keras``, or is not a valid Keras archive.
    """
    path = Path(path)
    how_to_fix = "train and save one with `" + _TRAIN_COMMAND.format(path=path) + "`"
    if not path.exists():
        raise ModelFileError(f"No model file at '{path}'; {how_to_fix}.")
    if path.is_dir():
        raise ModelFileError(
            f"'{path}' is a directory, not a model file; pass the path of a "
            f".keras file, or {how_to_fix}."
        )
    if path.suffix != ".keras":
        raise ModelFileError(
            f"'{path}' has the extension '{path.suffix}' but only the .keras "
            f"format is supported; {how_to_fix}."
        )
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"'{path}' is not a Keras archive (a .keras file is a zip file); "
            f"{how_to_fix}."
        )

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as error:
        raise ModelFileError(
            f"'{path}' could not be loaded as a Keras model "
            f"({type(error).__name__}: {_first_sentence(error)}); {how_to_fix}."
        ) from error


def _first_sentence(error: BaseException, limit: int = 200) -> str:
    """Return the first sentence of an exception message, without quotes."""
    message = str(error).strip().strip("'\"")
    sentence = message.split(". ")[0].rstrip(".")
    return sentence if len(sentence) <= limit else sentence[: limit - 3] + "..."


@dataclasses.dataclass(frozen=True, eq=False)
class EvaluationReport:
    """Everything the notebook shows about a model's test-set predictions.

    The arrays are read-only, so a report cannot change after it is made.

    Attributes:
        accuracy: Fraction of images predicted correctly.
        y_pred: Predicted class of each image.
        confidences: Probability the model gave its predicted class.
        confusion: Confusion matrix, rows = true class, columns = predicted.
        per_class: Accuracy (recall) of each true class; NaN if absent.
        misclassified: Indices of the wrongly predicted images, ascending.
    """

    accuracy: float
    y_pred: np.ndarray
    confidences: np.ndarray
    confusion: np.ndarray
    per_class: np.ndarray
    misclassified: np.ndarray


def evaluate_predictions(y_true: object, probabilities: object) -> EvaluationReport:
    """Summarise class probabilities from ``model.predict`` against the labels.

    Args:
        y_true: True class of each image, shape (N,).
        probabilities: Class probabilities, shape (N, classes), typically
            ``model.predict(x_test)``. Logits are turned into probabilities
            with softmax.

    Returns:
        An `EvaluationReport` with the accuracy, predictions, confidences,
        confusion matrix, per-class accuracy and misclassified indices.

    Raises:
        ValueError: If the shapes do not match or there are no images.
    """
    scores = _as_probabilities(probabilities)
    num_classes = scores.shape[1]
    y_pred = scores.argmax(axis=1).astype(np.int64)
    true_labels, y_pred = _as_label_pair(y_true, y_pred, num_classes)

    report = EvaluationReport(
        accuracy=accuracy(true_labels, y_pred),
        y_pred=y_pred,
        confidences=scores.max(axis=1),
        confusion=confusion_matrix(true_labels, y_pred, num_classes),
        per_class=per_class_accuracy(true_labels, y_pred, num_classes),
        misclassified=misclassified_indices(true_labels, y_pred),
    )
    for field in dataclasses.fields(report):
        value = getattr(report, field.name)
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return report
