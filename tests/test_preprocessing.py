"""Tests for mnist_helpers.preprocessing: scaling images and the validation split."""

import numpy as np
import pytest

from mnist_helpers.preprocessing import scale_images, split_train_validation


def grey_ramp(count: int = 3) -> np.ndarray:
    """Return `count` uint8 28x28 images whose pixels run through 0..255."""
    levels = np.arange(28 * 28) % 256
    return np.tile(levels.reshape(1, 28, 28), (count, 1, 1)).astype(np.uint8)


# --- scale_images -----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 28, 28), (3, 28, 28, 1)])
def test_scale_images_returns_float32_with_one_channel_in_unit_range(shape):
    images = grey_ramp(3).reshape(shape)

    scaled = scale_images(images)

    assert scaled.shape == (3, 28, 28, 1)
    assert scaled.dtype == np.float32
    assert scaled.min() >= 0.0
    assert scaled.max() <= 1.0


def test_scale_images_maps_0_to_0_and_255_to_1_exactly():
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    images[1] = 255

    scaled = scale_images(images)

    assert np.all(scaled[0] == 0.0)
    assert np.all(scaled[1] == 1.0)


def test_scale_images_divides_each_grey_level_by_255():
    images = grey_ramp(1)

    scaled = scale_images(images)

    expected = images[0].astype(np.float32) / 255.0
    np.testing.assert_allclose(scaled[0, :, :, 0], expected, rtol=1e-6)


def test_scale_images_leaves_the_input_array_unchanged():
    images = grey_ramp(2)
    original = images.copy()

    scale_images(images)

    np.testing.assert_array_equal(images, original)
    assert images.dtype == np.uint8


@pytest.mark.parametrize(
    "shape",
    [(28, 28), (3, 28, 28, 3), (2, 3, 28, 28, 1), (784,)],
    ids=["single-image", "rgb", "five-axes", "flat"],
)
def test_scale_images_rejects_arrays_that_are_not_a_stack_of_grey_images(shape):
    images = np.zeros(shape, dtype=np.uint8)

    with pytest.raises(ValueError, match=r"shape \(N, height, width\)") as error:
        scale_images(images)

    assert str(shape).replace(" ", "") in str(error.value).replace(" ", "")


@pytest.mark.parametrize("bad_value", [-1, 256, 1000])
def test_scale_images_rejects_grey_levels_outside_0_to_255(bad_value):
    images = np.zeros((2, 28, 28), dtype=np.int32)
    images[1, 5, 5] = bad_value

    with pytest.raises(ValueError, match="grey levels 0-255") as error:
        scale_images(images)

    assert str(bad_value) in str(error.value)


# --- split_train_validation ------------------------------------------------------


def numbered_examples(count: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Return `count` tiny images and labels equal to each example's position."""
    images = np.arange(count * 4, dtype=np.float32).reshape(count, 2, 2)
    labels = np.arange(count)
    return images, labels


def test_split_with_the_same_seed_picks_the_same_rows():
    images, labels = numbered_examples()

    first = split_train_validation(images, labels, 20, seed=7)
    second = split_train_validation(images, labels, 20, seed=7)

    np.testing.assert_array_equal(first[0][1], second[0][1])
    np.testing.assert_array_equal(first[1][1], second[1][1])


def test_split_with_another_seed_picks_other_rows():
    images, labels = numbered_examples()

    (_, _), (_, validation_seed_0) = split_train_validation(images, labels, 20, seed=0)
    (_, _), (_, validation_seed_1) = split_train_validation(images, labels, 20, seed=1)

    assert set(validation_seed_0) != set(validation_seed_1)


def test_split_is_disjoint_and_covers_every_example_once():
    images, labels = numbered_examples(100)

    (_, y_train), (_, y_validation) = split_train_validation(images, labels, 30)

    assert len(y_train) == 70
    assert len(y_validation) == 30
    assert set(y_train).isdisjoint(y_validation)
    np.testing.assert_array_equal(
        np.sort(np.concatenate([y_train, y_validation])), labels
    )


def test_split_keeps_each_image_with_its_label():
    images, labels = numbered_examples(50)

    (x_train, y_train), (x_validation, y_validation) = split_train_validation(
        images, labels, 10, seed=3
    )

    np.testing.assert_array_equal(x_train, images[y_train])
    np.testing.assert_array_equal(x_validation, images[y_validation])


def test_split_does_not_change_shapes_after_the_first_axis_or_dtypes():
    images = np.zeros((40, 28, 28, 1), dtype=np.float32)
    labels = np.zeros(40, dtype=np.uint8)

    (x_train, y_train), (x_validation, _) = split_train_validation(images, labels, 8)

    assert x_train.shape == (32, 28, 28, 1)
    assert x_validation.shape == (8, 28, 28, 1)
    assert x_train.dtype == np.float32
    assert y_train.dtype == np.uint8


@pytest.mark.parametrize(
    ("validation_size", "expected_count"),
    [(1, 1), (25, 25), (99, 99), (0.25, 25), (0.5, 50), (0.99, 99)],
)
def test_split_accepts_a_count_or_a_fraction(validation_size, expected_count):
    images, labels = numbered_examples(100)

    (_, y_train), (_, y_validation) = split_train_validation(
        images, labels, validation_size
    )

    assert len(y_validation) == expected_count
    assert len(y_train) == 100 - expected_count


def test_split_rejects_images_and_labels_of_different_lengths():
    images, labels = numbered_examples(10)

    with pytest.raises(ValueError, match="10 images but 9 labels"):
        split_train_validation(images, labels[:9], 2)


@pytest.mark.parametrize(
    "validation_size",
    [0, 100, 150, -5, 0.001, 0.0],
    ids=["zero", "all", "more-than-all", "negative", "tiny-fraction", "zero-float"],
)
def test_split_rejects_a_size_that_leaves_one_side_empty(validation_size):
    images, labels = numbered_examples(100)

    with pytest.raises(ValueError, match="leaves no example") as error:
        split_train_validation(images, labels, validation_size)

    assert repr(validation_size) in str(error.value)
