"""Tests for mnist_helpers.plots: each figure shows the data it was given."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib

matplotlib.use("Agg")

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from mnist_helpers.plots import (
    plot_class_distribution,
    plot_confusion_matrix,
    plot_history,
    plot_mistakes,
    plot_pixel_histograms,
    plot_samples,
)


@pytest.fixture(autouse=True)
def close_figures_and_forbid_show(monkeypatch):
    """Fail if a plot function calls plt.show, and close figures afterwards."""

    def refuse_show(*args, **kwargs):
        raise AssertionError("plot functions must return the figure, not show it")

    monkeypatch.setattr(plt, "show", refuse_show)
    yield
    plt.close("all")


def make_digits(count: int, channel_axis: bool = False) -> np.ndarray:
    """Return ``count`` distinct uint8 digits: a bar whose row is the index."""
    digits = np.zeros((count, 28, 28), dtype=np.uint8)
    for index in range(count):
        digits[index, index % 28, 4:24] = 255
        digits[index, 10:18, 12:16] = 100 + index
    return digits[..., np.newaxis] if channel_axis else digits


def image_axes(figure: Figure) -> list:
    """Return the axes of a figure that show an image."""
    return [ax for ax in figure.axes if ax.images]


# --- plot_samples -------------------------------------------------------------


def test_plot_samples_draws_one_axes_per_digit_with_its_label():
    digits = make_digits(12)
    labels = np.arange(12) % 10

    figure = plot_samples(digits, labels, count=12, columns=5)

    assert isinstance(figure, Figure)
    assert len(figure.axes) == 12
    assert [ax.get_title() for ax in figure.axes] == [str(label) for label in labels]
    assert figure.get_suptitle()


@pytest.mark.parametrize("channel_axis", [False, True], ids=["NHW", "NHW1"])
def test_plot_samples_shows_the_input_digits_unchanged(channel_axis):
    digits = make_digits(4, channel_axis=channel_axis)

    figure = plot_samples(digits, [0, 1, 2, 3], count=4)

    for index, ax in enumerate(figure.axes):
        np.testing.assert_array_equal(
            ax.images[0].get_array(), digits[index].reshape(28, 28)
        )
        assert not ax.axison


def test_plot_samples_shows_at_most_the_available_images():
    figure = plot_samples(make_digits(3), [1, 2, 3], count=20, columns=10)

    assert len(figure.axes) == 3


def test_plot_samples_marks_wrong_predictions_in_red():
    figure = plot_samples(make_digits(2), [4, 5], count=2, predictions=[4, 9])

    right, wrong = figure.axes
    assert right.get_title() == "true 4\npred 4"
    assert wrong.get_title() == "true 5\npred 9"
    assert to_rgba(wrong.title.get_color()) == to_rgba("tab:red")
    assert to_rgba(right.title.get_color()) == to_rgba("black")


def test_plot_samples_scales_float_digits_to_unit_range():
    digits = make_digits(1) / 255.0

    figure = plot_samples(digits, [7], count=1)

    assert figure.axes[0].images[0].get_clim() == (0.0, 1.0)


def test_plot_samples_rejects_label_count_that_differs_from_image_count():
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        plot_samples(make_digits(3), [1, 2])


def test_plot_samples_rejects_images_without_a_batch_axis():
    with pytest.raises(ValueError, match="shape"):
        plot_samples(np.zeros((28, 28)), [1])


# --- plot_class_distribution ------------------------------------------------------


def test_plot_class_distribution_bar_heights_equal_the_counts():
    y_train = np.array([0, 1, 1, 2, 2, 2, 9])

    figure = plot_class_distribution(y_train)

    (ax,) = figure.axes
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == [1, 2, 3, 0, 0, 0, 0, 0, 0, 1]
    assert ax.get_xlabel() == "Digit"
    assert ax.get_ylabel() == "Number of images"
    assert ax.get_title()
    assert list(ax.get_xticks()) == list(range(10))


def test_plot_class_distribution_draws_train_and_test_side_by_side():
    y_train = np.array([0, 0, 3])
    y_test = np.array([3, 3, 3, 5])

    figure = plot_class_distribution(y_train, y_test)

    (ax,) = figure.axes
    train_bars, test_bars = ax.containers
    assert [bar.get_height() for bar in train_bars] == [2, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert [bar.get_height() for bar in test_bars] == [0, 0, 0, 3, 0, 1, 0, 0, 0, 0]
    assert train_bars[0].get_x() < test_bars[0].get_x()
    legend_texts = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend_texts[0].startswith("Training")
    assert legend_texts[1].startswith("Test")


def test_plot_class_distribution_rejects_labels_outside_0_to_9():
    with pytest.raises(ValueError, match="digits 0-9"):
        plot_class_distribution([1, 12])


# --- plot_pixel_histograms ------------------------------------------------------


def test_plot_pixel_histograms_counts_every_pixel_on_a_log_axis():
    raw = make_digits(5)
    scaled = raw / 255.0

    figure = plot_pixel_histograms(raw, scaled, bins=16)

    before, after = figure.axes
    for ax in (before, after):
        assert ax.get_yscale() == "log"
        assert ax.get_xlabel() == "Pixel value"
        assert ax.get_ylabel() == "Number of pixels (log scale)"
        assert len(ax.patches) == 16
        assert sum(patch.get_height() for patch in ax.patches) == raw.size
    assert "0 to 255" in before.get_title()
    assert "0 to 1" in after.get_title()


def test_plot_pixel_histograms_puts_zero_pixels_in_the_first_bar():
    raw = np.array([[0, 0, 0, 255]], dtype=np.uint8)

    figure = plot_pixel_histograms(raw, raw / 255.0, bins=4)

    before, after = figure.axes
    assert [patch.get_height() for patch in before.patches] == [3, 0, 0, 1]
    assert [patch.get_height() for patch in after.patches] == [3, 0, 0, 1]


# --- plot_history -----------------------------------------------------------------

HISTORY = {
    "accuracy": [0.80, 0.90, 0.95],
    "val_accuracy": [0.85, 0.91, 0.93],
    "loss": [0.60, 0.30, 0.20],
    "val_loss": [0.50, 0.32, 0.28],
}


def keras_history(values: dict) -> keras.callbacks.History:
    """Return a Keras History object holding ``values``, as model.fit does."""
    history = keras.callbacks.History()
    history.history = values
    return history


@pytest.mark.parametrize("wrap", [dict, keras_history], ids=["dict", "History"])
def test_plot_history_draws_training_and_validation_values_per_epoch(wrap):
    figure = plot_history(wrap(HISTORY))

    accuracy_ax, loss_ax = figure.axes
    for ax, key in ((accuracy_ax, "accuracy"), (loss_ax, "loss")):
        training, validation = ax.get_lines()
        np.testing.assert_array_equal(training.get_xdata(), [1, 2, 3])
        np.testing.assert_allclose(training.get_ydata(), HISTORY[key])
        np.testing.assert_allclose(validation.get_ydata(), HISTORY[f"val_{key}"])
        legend_texts = [text.get_text() for text in ax.get_legend().get_texts()]
        assert legend_texts == ["Training", "Validation"]
        assert ax.get_xlabel() == "Epoch"
    assert accuracy_ax.get_ylabel() == "Accuracy"
    assert loss_ax.get_ylabel() == "Loss"


def test_plot_history_uses_whole_numbers_for_epoch_ticks():
    figure = plot_history({"accuracy": [0.5, 0.7], "loss": [1.0, 0.8]})

    figure.canvas.draw()

    for ax in figure.axes:
        ticks = ax.get_xticks()
        np.testing.assert_array_equal(ticks, np.round(ticks))


def test_plot_history_works_without_validation_values():
    figure = plot_history({"accuracy": [0.5, 0.7], "loss": [1.0, 0.8]})

    for ax in figure.axes:
        assert len(ax.get_lines()) == 1


def test_plot_history_finds_differently_named_accuracy():
    history = {"sparse_categorical_accuracy": [0.5, 0.6], "loss": [1.0, 0.9]}

    figure = plot_history(history)

    np.testing.assert_allclose(figure.axes[0].get_lines()[0].get_ydata(), [0.5, 0.6])


@pytest.mark.parametrize(
    ("history", "expected_words"),
    [
        ({"loss": [1.0]}, r"metrics=\['accuracy'\]"),
        ({"accuracy": [0.5]}, "no 'loss'"),
        ({"accuracy": [], "loss": []}, "no epochs"),
        ({"accuracy": [0.5, 0.6], "val_accuracy": [0.5], "loss": [1, 1]}, "every"),
    ],
    ids=["no-accuracy", "no-loss", "no-epochs", "validation_freq"],
)
def test_plot_history_rejects_incomplete_history(history, expected_words):
    with pytest.raises(ValueError, match=expected_words):
        plot_history(history)


def test_plot_history_rejects_a_plain_list_of_values():
    with pytest.raises(TypeError, match="History"):
        plot_history([0.5, 0.6])


# --- plot_confusion_matrix ----------------------------------------------------------


def cell_texts(ax) -> np.ndarray:
    """Return the texts written in the cells, as a matrix indexed [row, col]."""
    size = round(len(ax.texts) ** 0.5)
    texts = np.empty((size, size), dtype=object)
    for text in ax.texts:
        column, row = text.get_position()
        texts[int(row), int(column)] = text
    return texts


def test_plot_confusion_matrix_writes_every_count_in_its_cell():
    matrix = np.arange(100).reshape(10, 10) * 3

    figure = plot_confusion_matrix(matrix)

    ax = figure.axes[0]
    texts = cell_texts(ax)
    for row in range(10):
        for column in range(10):
            assert texts[row, column].get_text() == str(matrix[row, column])
    np.testing.assert_array_equal(ax.images[0].get_array(), matrix)


def test_plot_confusion_matrix_labels_axes_and_has_colorbar():
    figure = plot_confusion_matrix(np.eye(10, dtype=np.int64) * 50)

    matrix_ax, colorbar_ax = figure.axes
    assert matrix_ax.get_xlabel() == "Predicted digit"
    assert matrix_ax.get_ylabel() == "True digit"
    assert list(matrix_ax.get_xticks()) == list(range(10))
    assert list(matrix_ax.get_yticks()) == list(range(10))
    assert matrix_ax.get_title() == "Confusion matrix"
    assert colorbar_ax.get_ylabel()


def test_plot_confusion_matrix_uses_white_text_on_dark_cells_only():
    matrix = np.eye(10, dtype=np.int64) * 1000

    figure = plot_confusion_matrix(matrix)

    texts = cell_texts(figure.axes[0])
    assert to_rgba(texts[3, 3].get_color()) == to_rgba("white")
    assert to_rgba(texts[3, 4].get_color()) == to_rgba("black")


def test_plot_confusion_matrix_colours_a_single_error_visibly():
    matrix = np.eye(10, dtype=np.int64) * 1000
    matrix[4, 9] = 1

    figure = plot_confusion_matrix(matrix)

    image = figure.axes[0].images[0]
    assert image.norm(1) > 0.05
    assert image.norm(0) == 0


def test_plot_confusion_matrix_normalised_shows_row_shares():
    matrix = np.zeros((10, 10), dtype=np.int64)
    matrix[0, 0], matrix[0, 6] = 3, 1

    figure = plot_confusion_matrix(matrix, normalize=True)

    texts = cell_texts(figure.axes[0])
    assert texts[0, 0].get_text() == "75.0%"
    assert texts[0, 6].get_text() == "25.0%"
    assert texts[1, 1].get_text() == "n/a"
    assert "100%" in figure.axes[0].get_title()


@pytest.mark.parametrize(
    "matrix",
    [np.zeros((3, 4)), np.zeros(10), -np.eye(3)],
    ids=["not-square", "1-D", "negative"],
)
def test_plot_confusion_matrix_rejects_matrices_that_are_not_counts(matrix):
    with pytest.raises(ValueError, match="confusion_matrix"):
        plot_confusion_matrix(matrix)


# --- plot_mistakes ------------------------------------------------------------------


def test_plot_mistakes_titles_each_image_with_truth_prediction_and_confidence():
    digits = make_digits(6)
    y_true = np.array([4, 1, 2, 3, 4, 5])
    y_pred = np.array([9, 1, 7, 3, 4, 5])
    confidences = np.array([0.87, 0.99, 0.514, 0.9, 0.9, 0.9])

    figure = plot_mistakes(digits, y_true, y_pred, confidences, indices=[2, 0])

    assert [ax.get_title() for ax in figure.axes] == [
        "true 2\npred 7 (51%)",
        "true 4\npred 9 (87%)",
    ]
    np.testing.assert_array_equal(figure.axes[0].images[0].get_array(), digits[2])
    np.testing.assert_array_equal(figure.axes[1].images[0].get_array(), digits[0])
    assert "2 of 2" in figure.get_suptitle()


def test_plot_mistakes_shows_at_most_count_images():
    digits = make_digits(30, channel_axis=True)
    labels = np.zeros(30, dtype=np.int64)

    figure = plot_mistakes(
        digits, labels, labels + 1, np.full(30, 0.5), np.arange(30), count=24
    )

    assert len(image_axes(figure)) == 24
    assert "24 of 30" in figure.get_suptitle()


def test_plot_mistakes_says_so_when_there_are_no_mistakes():
    labels = np.array([1, 2])

    figure = plot_mistakes(make_digits(2), labels, labels, [0.9, 0.9], [])

    (ax,) = figure.axes
    assert "No mistakes" in ax.texts[0].get_text()


def test_plot_mistakes_rejects_indices_outside_the_images():
    labels = np.array([1, 2])

    with pytest.raises(ValueError, match="between 0 and 1"):
        plot_mistakes(make_digits(2), labels, labels, [0.9, 0.9], [5])
