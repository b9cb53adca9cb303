"""Tests for mnist_helpers.images: turning raw pictures into MNIST digits."""

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_helpers.errors import ImageInputError, MnistHelpersError
from mnist_helpers.images import load_image_file, prepare_digit, prepare_digits


def mnist_style_ring() -> np.ndarray:
    """Draw a white ring (a '0') on black in a 28x28 uint8 array."""
    rows, columns = np.mgrid[:28, :28]
    distance = np.hypot(rows - 14, columns - 14)
    return np.where((distance > 5) & (distance < 9), 255, 0).astype(np.uint8)


def paper_drawing(
    height: int = 200,
    width: int = 140,
    paper: int = 255,
    ink: int = 0,
) -> np.ndarray:
    """Draw a dark '7'-like stroke off-centre on light paper."""
    image = np.full((height, width), paper, dtype=np.uint8)
    image[30:45, 20:80] = ink
    image[30:110, 65:80] = ink
    return image


def centre_of_mass(digit: np.ndarray) -> tuple[float, float]:
    """Return the (row, column) centre of mass of a 2-D array."""
    total = digit.sum()
    row = (digit.sum(axis=1) @ np.arange(digit.shape[0])) / total
    column = (digit.sum(axis=0) @ np.arange(digit.shape[1])) / total
    return row, column


def bounding_box_size(digit: np.ndarray) -> tuple[int, int]:
    """Return the height and width of the box around the non-zero pixels."""
    rows = np.flatnonzero(digit.any(axis=1))
    columns = np.flatnonzero(digit.any(axis=0))
    return rows[-1] - rows[0] + 1, columns[-1] - columns[0] + 1


def assert_mnist_style(digit: np.ndarray) -> None:
    """Check shape, type, range, size and centring of a prepared digit."""
    assert digit.shape == (28, 28)
    assert digit.dtype == np.float32
    assert digit.min() == 0.0
    assert digit.max() == pytest.approx(1.0)
    assert max(bounding_box_size(digit)) == pytest.approx(20, abs=1)
    row, column = centre_of_mass(digit)
    assert row == pytest.approx(14, abs=1)
    assert column == pytest.approx(14, abs=1)


# --- 28x28 arrays are taken as MNIST-style already --------------------------


def test_prepare_digit_divides_uint8_mnist_digit_by_255():
    digit = mnist_style_ring()

    prepared = prepare_digit(digit)

    assert prepared.dtype == np.float32
    np.testing.assert_allclose(prepared, digit / 255, rtol=1e-6)


def test_prepare_digit_keeps_float_digit_already_in_unit_range():
    digit = mnist_style_ring() / 255.0

    prepared = prepare_digit(digit)

    np.testing.assert_allclose(prepared, digit, rtol=1e-6)


def test_prepare_digit_divides_float_digit_with_values_above_one_by_255():
    digit = mnist_style_ring().astype(np.float64)

    prepared = prepare_digit(digit)

    np.testing.assert_allclose(prepared, digit / 255, rtol=1e-6)


def test_prepare_digit_drops_single_channel_axis_of_28x28x1_digit():
    digit = mnist_style_ring()

    prepared = prepare_digit(digit[:, :, np.newaxis])

    assert prepared.shape == (28, 28)
    np.testing.assert_allclose(prepared, digit / 255, rtol=1e-6)


def test_prepare_digit_turns_boolean_digit_into_zeros_and_ones():
    digit = mnist_style_ring() > 0

    prepared = prepare_digit(digit)

    np.testing.assert_array_equal(prepared, digit.astype(np.float32))


def test_prepare_digit_warns_when_28x28_digit_is_dark_on_light(caplog):
    digit = 255 - mnist_style_ring()

    with caplog.at_level(logging.WARNING, logger="mnist_helpers.images"):
        prepare_digit(digit)

    assert "invert" in caplog.text


# --- larger pictures get the full MNIST preprocessing ------------------------


def test_prepare_digit_inverts_dark_ink_on_white_paper():
    picture = paper_drawing()

    prepared = prepare_digit(picture)

    assert_mnist_style(prepared)
    assert prepared[0].max() == 0.0
    assert prepared[:, 0].max() == 0.0


def test_prepare_digit_keeps_white_ink_on_black_background():
    picture = 255 - paper_drawing()

    prepared = prepare_digit(picture)

    np.testing.assert_allclose(prepared, prepare_digit(paper_drawing()), atol=1e-6)


def test_prepare_digit_removes_grey_paper_background():
    picture = paper_drawing(paper=200, ink=60)

    prepared = prepare_digit(picture)

    assert_mnist_style(prepared)
    assert np.count_nonzero(prepared) == np.count_nonzero(
        prepare_digit(paper_drawing())
    )


@pytest.mark.parametrize(
    ("stroke_rows", "stroke_columns"),
    [
        (slice(10, 190), slice(60, 90)),
        (slice(90, 120), slice(5, 135)),
        (slice(150, 190), slice(100, 130)),
    ],
    ids=["tall", "wide", "small-in-corner"],
)
def test_prepare_digit_fits_longer_side_into_20_pixels_and_centres_it(
    stroke_rows, stroke_columns
):
    picture = np.zeros((200, 140), dtype=np.uint8)
    picture[stroke_rows, stroke_columns] = 255

    prepared = prepare_digit(picture)

    assert_mnist_style(prepared)


def test_prepare_digit_keeps_aspect_ratio_of_the_digit():
    picture = np.zeros((200, 140), dtype=np.uint8)
    picture[20:180, 50:90] = 255

    prepared = prepare_digit(picture)

    height, width = bounding_box_size(prepared)
    assert height == 20
    assert width == pytest.approx(5, abs=1)


def test_prepare_digit_gives_same_result_for_grey_rgb_and_rgba():
    grey = paper_drawing()
    rgb = np.stack([grey, grey, grey], axis=-1)
    rgba = np.concatenate([rgb, np.full_like(grey, 255)[..., np.newaxis]], axis=-1)

    from_grey = prepare_digit(grey)
    from_rgb = prepare_digit(rgb)
    from_rgba = prepare_digit(rgba)

    np.testing.assert_allclose(from_rgb, from_grey, atol=1e-6)
    np.testing.assert_allclose(from_rgba, from_grey, atol=1e-6)


@pytest.mark.parametrize("ink_colour", [0, 255], ids=["black-ink", "white-ink"])
def test_prepare_digit_treats_transparent_pixels_as_background(ink_colour):
    stroke = paper_drawing() == 0
    rgba = np.zeros((*stroke.shape, 4), dtype=np.uint8)
    rgba[..., :3] = ink_colour
    rgba[..., 3] = np.where(stroke, 255, 0)

    prepared = prepare_digit(rgba)

    np.testing.assert_allclose(prepared, prepare_digit(paper_drawing()), atol=1e-6)


def test_prepare_digit_accepts_float_picture_in_unit_range():
    picture = paper_drawing() / 255.0

    prepared = prepare_digit(picture)

    np.testing.assert_allclose(prepared, prepare_digit(paper_drawing()), atol=1e-6)


# --- image files --------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp"])
def test_prepare_digit_reads_image_files(tmp_path, suffix):
    picture = paper_drawing()
    path = tmp_path / f"seven{suffix}"
    Image.fromarray(picture).save(path)

    prepared = prepare_digit(path)

    assert_mnist_style(prepared)
    difference = np.abs(prepared - prepare_digit(picture))
    assert difference.mean() < 0.02


def test_prepare_digit_accepts_path_as_string(tmp_path):
    path = tmp_path / "seven.png"
    Image.fromarray(paper_drawing()).save(path)

    prepared = prepare_digit(str(path))

    np.testing.assert_array_equal(prepared, prepare_digit(path))


def test_prepare_digit_reads_rgb_photo_file(tmp_path):
    grey = paper_drawing()
    path = tmp_path / "photo.png"
    Image.fromarray(np.stack([grey, grey, grey], axis=-1)).save(path)

    prepared = prepare_digit(path)

    np.testing.assert_allclose(prepared, prepare_digit(grey), atol=1e-6)


def test_prepare_digit_preprocesses_28x28_file_fully(tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(255 - mnist_style_ring()).save(path)

    prepared = prepare_digit(path)

    assert_mnist_style(prepared)
    assert prepared[0].max() == 0.0


def test_load_image_file_returns_rgba_for_transparent_png(tmp_path):
    rgba = np.zeros((40, 30, 4), dtype=np.uint8)
    rgba[10:20, 10:20] = 255
    path = tmp_path / "transparent.png"
    Image.fromarray(rgba).save(path)

    loaded = load_image_file(path)

    assert loaded.shape == (40, 30, 4)
    np.testing.assert_array_equal(loaded, rgba)


def test_load_image_file_returns_grey_for_rgb_file(tmp_path):
    rgb = np.full((40, 30, 3), 255, dtype=np.uint8)
    path = tmp_path / "rgb.png"
    Image.fromarray(rgb).save(path)

    loaded = load_image_file(path)

    assert loaded.shape == (40, 30)
    assert loaded.dtype == np.uint8


def test_load_image_file_scales_16_bit_image_to_8_bits(tmp_path):
    values = np.zeros((40, 30), dtype=np.uint16)
    values[10:20, 10:20] = 65535
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)

    loaded = load_image_file(path)

    assert loaded.max() == 255
    assert loaded.dtype == np.uint8


def test_prepare_digit_rejects_text_file_as_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")

    with pytest.raises(ImageInputError, match="not an image file"):
        prepare_digit(path)


def test_prepare_digit_rejects_missing_file_naming_the_path(tmp_path):
    path = tmp_path / "missing.png"

    with pytest.raises(ImageInputError, match="No image file") as caught:
        prepare_digit(path)

    assert str(path) in str(caught.value)


def test_prepare_digit_rejects_directory(tmp_path):
    with pytest.raises(ImageInputError, match="is a directory"):
        prepare_digit(tmp_path)


def test_prepare_digit_rejects_truncated_png(tmp_path):
    path = tmp_path / "truncated.png"
    Image.fromarray(paper_drawing()).save(path)
    path.write_bytes(path.read_bytes()[:200])

    with pytest.raises(ImageInputError, match="damaged"):
        prepare_digit(path)


def test_prepare_digit_rejects_too_small_image_file_naming_the_path(tmp_path):
    path = tmp_path / "tiny.png"
    Image.fromarray(paper_drawing(height=20, width=20)).save(path)

    with pytest.raises(ImageInputError, match="minimum is 28x28") as caught:
        prepare_digit(path)

    assert str(path) in str(caught.value)


def test_prepare_digit_rejects_blank_image_file(tmp_path):
    path = tmp_path / "blank.png"
    Image.new("L", (60, 60), color=255).save(path)

    with pytest.raises(ImageInputError, match="blank"):
        prepare_digit(path)


# --- rejected arrays ------------------------------------------------------------


def with_value(value: float) -> np.ndarray:
    """Return a float drawing with one pixel set to ``value``."""
    picture = paper_drawing().astype(np.float64)
    picture[100, 100] = value
    return picture


@pytest.mark.parametrize(
    ("image", "expected_words"),
    [
        (np.zeros((0, 28)), "empty"),
        (np.zeros(784), "1 dimensions"),
        (np.zeros((2, 28, 28, 1)), "4 dimensions"),
        (np.zeros((40, 40, 2)), "channels"),
        (np.zeros((20, 20)), "minimum is 28x28"),
        (np.zeros((27, 40)), "minimum is 28x28"),
        (with_value(np.nan), "NaN"),
        (with_value(np.inf), "infinite"),
        (with_value(-1.0), "0-255"),
        (with_value(256.0), "0-255"),
        (np.full((40, 40), "a"), "numbers"),
        (np.zeros((40, 40), dtype=np.complex64), "numbers"),
        (np.zeros((28, 28), dtype=np.uint8), "blank"),
        (np.full((200, 140), 255, dtype=np.uint8), "blank"),
        ([[0, 1], [1, 0]], "numpy array"),
    ],
    ids=[
        "empty",
        "1-D",
        "4-D",
        "two-channels",
        "too-small",
        "too-short",
        "nan",
        "infinite",
        "negative",
        "above-255",
        "strings",
        "complex",
        "blank-28x28",
        "blank-paper",
        "list",
    ],
)
def test_prepare_digit_rejects_bad_arrays_with_clear_message(image, expected_words):
    with pytest.raises(ImageInputError, match=expected_words):
        prepare_digit(image)


def test_prepare_digit_rejects_picture_without_visible_ink():
    picture = np.full((100, 100), 128, dtype=np.uint8)
    picture[50, 50] = 129

    with pytest.raises(ImageInputError, match="No digit found"):
        prepare_digit(picture)


def test_image_input_error_is_a_value_error_and_a_package_error():
    with pytest.raises(ImageInputError) as caught:
        prepare_digit(np.zeros(3))

    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, MnistHelpersError)


# --- batches --------------------------------------------------------------------


def test_prepare_digits_scales_stacked_mnist_array_and_adds_channel_axis():
    digits = np.stack([mnist_style_ring(), 255 - mnist_style_ring()])

    prepared = prepare_digits(digits)

    assert prepared.shape == (2, 28, 28, 1)
    assert prepared.dtype == np.float32
    np.testing.assert_allclose(prepared[..., 0], digits / 255, rtol=1e-6)


def test_prepare_digits_keeps_stack_that_already_has_channel_axis():
    digits = mnist_style_ring()[np.newaxis, :, :, np.newaxis] / 255.0

    prepared = prepare_digits(digits)

    np.testing.assert_allclose(prepared, digits, rtol=1e-6)


def test_prepare_digits_mixes_arrays_and_paths(tmp_path):
    path = tmp_path / "seven.png"
    Image.fromarray(paper_drawing()).save(path)

    prepared = prepare_digits([mnist_style_ring(), path, paper_drawing()])

    assert prepared.shape == (3, 28, 28, 1)
    np.testing.assert_allclose(prepared[0, :, :, 0], mnist_style_ring() / 255)
    np.testing.assert_allclose(prepared[1], prepared[2], atol=1e-6)


@pytest.mark.parametrize(
    "images",
    [[], np.zeros((0, 28, 28), dtype=np.uint8)],
    ids=["empty-list", "empty-array"],
)
def test_prepare_digits_rejects_empty_input(images):
    with pytest.raises(ImageInputError, match="no images"):
        prepare_digits(images)


@pytest.mark.parametrize(
    "images",
    ["digit.png", Path("digit.png"), np.zeros((28, 28))],
    ids=["string", "path", "2-D-array"],
)
def test_prepare_digits_rejects_single_image_and_suggests_a_list(images):
    with pytest.raises(ImageInputError, match="wrap it in a list"):
        prepare_digits(images)


def test_prepare_digits_names_the_rejected_image_in_a_list():
    images = [mnist_style_ring(), np.zeros((10, 10))]

    with pytest.raises(ImageInputError, match="Image 1 of the batch"):
        prepare_digits(images)


def test_prepare_digits_names_the_blank_image_in_a_stack():
    digits = np.stack([mnist_style_ring(), np.zeros((28, 28), np.uint8)])

    with pytest.raises(ImageInputError, match="Image 1 of the batch is blank"):
        prepare_digits(digits)
