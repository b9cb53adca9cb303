"""Tests for mnist_helpers.evaluation: metrics, predictions and model loading."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dataclasses
import zipfile

import keras
import numpy as np
import pytest

from mnist_helpers.errors import ImageInputError, ModelFileError
from mnist_helpers.evaluation import (
    EvaluationReport,
    accuracy,
    confusion_matrix,
    evaluate_predictions,
    load_model,
    misclassified_indices,
    model_accuracy,
    per_class_accuracy,
    predict_digits,
)

# Three classes keep the expected answers small enough to check by hand.
Y_TRUE = np.array([0, 0, 1, 2, 2, 2])
Y_PRED = np.array([0, 1, 1, 2, 0, 2])


def half_digit_model(activation: str | None = "softmax") -> keras.Model:
    """Build a 50-weight model that says 7 for ink on top and 2 for ink below.

    Average pooling turns the 28x28 image into four quadrant means: top-left,
    top-right, bottom-left, bottom-right. The dense layer adds the top two to
    the score of 7 and the bottom two to the score of 2.
    """
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.AveragePooling2D(pool_size=14),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation=activation),
        ]
    )
    kernel = np.zeros((4, 10), dtype=np.float32)
    kernel[0:2, 7] = 40.0
    kernel[2:4, 2] = 40.0
    model.layers[-1].set_weights([kernel, np.zeros(10, dtype=np.float32)])
    return model


def half_digits() -> np.ndarray:
    """Return two uint8 digits: ink in the top half, then in the bottom half."""
    digits = np.zeros((2, 28, 28), dtype=np.uint8)
    digits[0, 4:12, 8:20] = 255
    digits[1, 16:24, 8:20] = 255
    return digits


# --- confusion matrix and per-class metrics -------------------------------------


def test_confusion_matrix_counts_true_classes_in_rows_and_predictions_in_columns():
    expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])

    matrix = confusion_matrix(Y_TRUE, Y_PRED, num_classes=3)

    np.testing.assert_array_equal(matrix, expected)
    assert matrix.dtype == np.int64


def test_confusion_matrix_puts_a_true_3_predicted_5_in_row_3_column_5():
    matrix = confusion_matrix([3], [5])

    assert matrix.shape == (10, 10)
    assert matrix[3, 5] == 1
    assert matrix.sum() == 1


def test_confusion_matrix_accepts_whole_number_floats_and_lists():
    matrix = confusion_matrix([0.0, 1.0], [1, 1], num_classes=2)

    np.testing.assert_array_equal(matrix, [[0, 1], [0, 1]])


def test_confusion_matrix_of_no_labels_is_all_zeros():
    matrix = confusion_matrix([], [])

    np.testing.assert_array_equal(matrix, np.zeros((10, 10)))


@pytest.mark.parametrize(
    ("y_true", "y_pred", "expected_words"),
    [
        ([0, 1, 2], [0, 1], "3 labels but y_pred has 2"),
        ([0, 10], [0, 1], "label 10, outside 0 to 9"),
        ([0, 1], [-1, 1], "label -1, outside 0 to 9"),
        ([0, 1], np.eye(2, 10), r"argmax\(axis=1\)"),
        ([0, 1.5], [0, 1], "whole-number"),
        (["0", "1"], [0, 1], "integer class labels"),
    ],
    ids=[
        "lengths",
        "too-large",
        "negative",
        "probabilities",
        "fraction",
        "strings",
    ],
)
def test_confusion_matrix_rejects_bad_labels_with_clear_message(
    y_true, y_pred, expected_words
):
    with pytest.raises(ValueError, match=expected_words):
        confusion_matrix(y_true, y_pred)


def test_per_class_accuracy_is_the_recall_of_each_class():
    expected = np.array([1 / 2, 1 / 1, 2 / 3])

    result = per_class_accuracy(Y_TRUE, Y_PRED, num_classes=3)

    np.testing.assert_allclose(result, expected)


def test_per_class_accuracy_is_nan_for_a_class_missing_from_y_true():
    result = per_class_accuracy([0, 0, 2], [0, 1, 1], num_classes=3)

    np.testing.assert_allclose(result, [0.5, np.nan, 0.0])


def test_misclassified_indices_lists_differences_in_ascending_order():
    indices = misclassified_indices(Y_TRUE, Y_PRED)

    np.testing.assert_array_equal(indices, [1, 4])
    assert np.issubdtype(indices.dtype, np.integer)


def test_misclassified_indices_is_empty_when_every_prediction_is_right():
    indices = misclassified_indices(Y_TRUE, Y_TRUE)

    assert indices.shape == (0,)


def test_accuracy_is_the_fraction_of_correct_predictions():
    result = accuracy(Y_TRUE, Y_PRED)

    assert result == pytest.approx(4 / 6)
    assert isinstance(result, float)


def test_accuracy_rejects_empty_labels():
    with pytest.raises(ValueError, match="zero predictions"):
        accuracy([], [])


def test_model_accuracy_counts_right_answers_of_a_model_that_needs_one_hot_labels():
    model = half_digit_model()
    model.compile(loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
    images = half_digits()[..., np.newaxis].astype(np.float32) / 255

    result = model_accuracy(model, images, np.array([7, 3]))

    assert result == pytest.approx(0.5)


# --- evaluate_predictions ---------------------------------------------------------


def one_hot_probabilities(predicted: np.ndarray, confidence: float) -> np.ndarray:
    """Spread probabilities so ``predicted`` gets ``confidence`` in each row."""
    num_classes = 3
    probabilities = np.full(
        (len(predicted), num_classes), (1 - confidence) / (num_classes - 1)
    )
    probabilities[np.arange(len(predicted)), predicted] = confidence
    return probabilities


def test_evaluate_predictions_fills_every_field_of_the_report():
    probabilities = one_hot_probabilities(Y_PRED, confidence=0.8)

    report = evaluate_predictions(Y_TRUE, probabilities)

    assert isinstance(report, EvaluationReport)
    assert report.accuracy == pytest.approx(4 / 6)
    np.testing.assert_array_equal(report.y_pred, Y_PRED)
    np.testing.assert_allclose(report.confidences, 0.8)
    np.testing.assert_array_equal(
        report.confusion, confusion_matrix(Y_TRUE, Y_PRED, num_classes=3)
    )
    np.testing.assert_allclose(report.per_class, [0.5, 1.0, 2 / 3])
    np.testing.assert_array_equal(report.misclassified, [1, 4])


def test_evaluate_predictions_report_cannot_be_changed():
    report = evaluate_predictions(Y_TRUE, one_hot_probabilities(Y_PRED, 0.8))

    with pytest.raises(dataclasses.FrozenInstanceError):
        report.accuracy = 1.0
    with pytest.raises(ValueError, match="read-only"):
        report.y_pred[0] = 9


def test_evaluate_predictions_turns_logits_into_probabilities():
    logits = np.log(one_hot_probabilities(Y_PRED, confidence=0.8)) + 5.0

    report = evaluate_predictions(Y_TRUE, logits)

    np.testing.assert_allclose(report.confidences, 0.8)


def test_evaluate_predictions_rejects_probabilities_for_other_images():
    probabilities = one_hot_probabilities(Y_PRED[:4], confidence=0.8)

    with pytest.raises(ValueError, match="6 labels but y_pred has 4"):
        evaluate_predictions(Y_TRUE, probabilities)


def test_evaluate_predictions_rejects_label_vector_instead_of_probabilities():
    with pytest.raises(ValueError, match="model.predict"):
        evaluate_predictions(Y_TRUE, Y_PRED)


# --- predict_digits ---------------------------------------------------------------


def test_predict_digits_returns_known_digits_and_confidences():
    model = half_digit_model()

    digits, confidences = predict_digits(model, half_digits())

    np.testing.assert_array_equal(digits, [7, 2])
    assert np.issubdtype(digits.dtype, np.integer)
    assert confidences.shape == (2,)
    assert np.all((confidences > 0.9) & (confidences <= 1.0))


def test_predict_digits_applies_softmax_to_a_model_that_returns_logits():
    model = half_digit_model(activation=None)

    digits, confidences = predict_digits(model, half_digits())

    np.testing.assert_array_equal(digits, [7, 2])
    np.testing.assert_allclose(
        confidences, predict_digits(half_digit_model(), half_digits())[1], rtol=1e-5
    )


def test_predict_digits_prepares_large_pictures_first():
    paper = np.full((2, 100, 80), 255, dtype=np.uint8)
    paper[0, 10:40, 10:70] = 0
    paper[1, 10:90, 35:45] = 0
    model = half_digit_model()

    digits, _ = predict_digits(model, list(paper))

    assert digits.shape == (2,)


def test_predict_digits_rejects_model_without_ten_outputs():
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )

    with pytest.raises(ModelFileError, match="must return 10"):
        predict_digits(model, half_digits())


def test_predict_digits_rejects_bad_images_before_running_the_model():
    with pytest.raises(ImageInputError, match="minimum is 28x28"):
        predict_digits(half_digit_model(), [np.ones((5, 5))])


@pytest.mark.parametrize("batch_size", [0, -3, 2.5])
def test_predict_digits_rejects_batch_size_that_is_not_a_positive_integer(
    batch_size,
):
    with pytest.raises(ValueError, match="batch_size"):
        predict_digits(half_digit_model(), half_digits(), batch_size=batch_size)


# --- load_model -------------------------------------------------------------------


def test_load_model_round_trip_gives_the_same_predictions(tmp_path):
    model = half_digit_model()
    path = tmp_path / "m.keras"
    model.save(path)

    loaded = load_model(path)

    np.testing.assert_allclose(
        loaded.predict(half_digits()[..., np.newaxis] / 255, verbose=0),
        model.predict(half_digits()[..., np.newaxis] / 255, verbose=0),
        rtol=1e-6,
    )


def test_load_model_accepts_path_as_string(tmp_path):
    path = tmp_path / "m.keras"
    half_digit_model().save(path)

    loaded = load_model(str(path))

    assert isinstance(loaded, keras.Model)


def write_zip(path, members: dict[str, str]):
    """Write a zip archive holding the given text members."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


@pytest.mark.parametrize(
    ("make_file", "expected_words"),
    [
        (lambda folder: folder / "missing.keras", "No model file"),
        (lambda folder: folder, "is a directory"),
        (
            lambda folder: (folder / "m.h5").write_text("x") and folder / "m.h5",
            "extension '.h5'",
        ),
        (
            lambda folder: (
                (folder / "t.keras").write_text("hello") and folder / "t.keras"
            ),
            "not a Keras archive",
        ),
        (
            lambda folder: write_zip(folder / "z.keras", {"a.txt": "x"}),
            "could not be loaded",
        ),
        (
            lambda folder: write_zip(folder / "j.keras", {"config.json": "{oops"}),
            "could not be loaded",
        ),
    ],
    ids=[
        "missing",
        "directory",
        "h5-extension",
        "text-file",
        "zip-without-config",
        "broken-config",
    ],
)
def test_load_model_rejects_files_that_are_not_keras_models(
    tmp_path, make_file, expected_words
):
    path = make_file(tmp_path)

    with pytest.raises(ModelFileError, match=expected_words) as caught:
        load_model(path)

    message = str(caught.value)
    assert str(path) in message
    assert "python -m mnist_helpers train --save" in message


def test_load_model_chains_the_keras_error_as_cause(tmp_path):
    path = write_zip(tmp_path / "z.keras", {"a.txt": "x"})

    with pytest.raises(ModelFileError) as caught:
        load_model(path)

    assert caught.value.__cause__ is not None


def test_load_model_refuses_lambda_layers_in_safe_mode(tmp_path):
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Lambda(lambda values: values * 2)]
    )
    path = tmp_path / "lambda.keras"
    model.save(path)

    with pytest.raises(ModelFileError, match="could not be loaded") as caught:
        load_model(path)

    assert "Lambda" in str(caught.value)
    assert "safe_mode=False" not in str(caught.value)
