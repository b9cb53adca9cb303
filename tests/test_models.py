"""Tests for mnist_helpers.models: shapes, names and layers of the tutorial's models."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

from mnist_helpers.models import (
    MODEL_BUILDERS,
    build_cnn,
    build_mlp,
    build_reference_cnn,
    build_wide_cnn,
)

BUILDERS = [build_cnn, build_mlp, build_reference_cnn, build_wide_cnn]
BUILDER_IDS = [builder.__name__ for builder in BUILDERS]


def random_images(count: int = 4, seed: int = 0) -> np.ndarray:
    """Return `count` random (28, 28, 1) float32 images in [0, 1]."""
    return np.random.default_rng(seed).random((count, 28, 28, 1), dtype=np.float32)


def layer_types(model: keras.Model) -> set[type]:
    """Return the classes of the model's layers."""
    return {type(layer) for layer in model.layers}


@pytest.mark.parametrize("builder", BUILDERS, ids=BUILDER_IDS)
def test_model_maps_28x28x1_images_to_10_scores(builder):
    model = builder()

    input_shape = tuple(model.input_shape)
    output_shape = tuple(model.output_shape)

    assert input_shape == (None, 28, 28, 1)
    assert output_shape == (None, 10)


@pytest.mark.parametrize("builder", BUILDERS, ids=BUILDER_IDS)
def test_model_outputs_probabilities_that_sum_to_1(builder):
    model = builder()
    images = random_images(4)

    probabilities = np.asarray(model(images, training=False))

    assert probabilities.shape == (4, 10)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("builder", BUILDERS, ids=BUILDER_IDS)
def test_model_starts_with_a_keras_input_named_image(builder):
    model = builder()

    first_layer = model.layers[0]

    assert isinstance(first_layer, keras.layers.InputLayer)
    assert len(model.inputs) == 1
    assert first_layer.name == "image"
    assert tuple(model.inputs[0].shape) == (None, 28, 28, 1)


@pytest.mark.parametrize("builder", BUILDERS, ids=BUILDER_IDS)
def test_every_layer_has_a_chosen_name_not_an_automatic_one(builder):
    # Keras numbers automatic names (dense, dense_1, ...) anew on every build, so
    # layer names that are the same on two builds were all given by the code.
    first_build = builder()
    second_build = builder()

    first_names = [layer.name for layer in first_build.layers]
    second_names = [layer.name for layer in second_build.layers]

    assert first_names == second_names
    assert len(set(first_names)) == len(first_names)
    assert first_names[-1] == "digit"


def test_mlp_flattens_784_pixels_into_relu_dense_layers():
    model = build_mlp(hidden_units=(64, 32))

    flatten = model.get_layer("flatten")
    hidden_layers = [model.get_layer("hidden1"), model.get_layer("hidden2")]

    assert tuple(flatten.output.shape) == (None, 784)
    for layer, units in zip(hidden_layers, (64, 32), strict=True):
        assert isinstance(layer, keras.layers.Dense)
        assert layer.units == units
        assert layer.activation is keras.activations.relu
    assert keras.layers.Conv2D not in layer_types(model)


def test_mlp_output_layer_is_a_softmax_over_10_digits():
    model = build_mlp()

    output_layer = model.get_layer("digit")

    assert isinstance(output_layer, keras.layers.Dense)
    assert output_layer.units == 10
    assert output_layer.activation is keras.activations.softmax


@pytest.mark.parametrize(
    ("builder", "shifts_images"),
    [
        (build_cnn, True),
        (build_mlp, False),
        (build_reference_cnn, False),
        (build_wide_cnn, True),
    ],
    ids=BUILDER_IDS,
)
def test_only_our_cnns_shift_their_training_images(builder, shifts_images):
    model = builder()

    has_random_translation = keras.layers.RandomTranslation in layer_types(model)

    assert has_random_translation is shifts_images


def test_wide_cnn_is_wider_than_the_tutorial_cnn():
    tutorial = build_cnn()
    wide = build_wide_cnn()

    tutorial_filters = [tutorial.get_layer(f"block{i}_conv").filters for i in (1, 2)]
    wide_filters = [wide.get_layer(f"block{i}_conv").filters for i in (1, 2)]

    assert wide_filters == [2 * filters for filters in tutorial_filters]
    assert wide.count_params() > tutorial.count_params()


def test_wide_cnn_predicts_the_same_scores_every_time():
    model = build_wide_cnn()
    images = random_images(8)

    first = model.predict(images, verbose=0)
    second = model.predict(images, verbose=0)
    inference_call = np.asarray(model(images, training=False))

    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, inference_call, rtol=1e-5, atol=1e-6)


def test_wide_cnn_random_shift_moves_images_only_in_training():
    shift = build_wide_cnn().get_layer("random_shift")
    images = np.zeros((16, 28, 28, 1), dtype=np.float32)
    images[:, 10:18, 10:18, :] = 1.0

    at_inference = np.asarray(shift(images, training=False))
    in_training = np.asarray(shift(images, training=True))

    np.testing.assert_array_equal(at_inference, images)
    assert not np.array_equal(in_training, images)


def test_model_builders_hold_the_documented_models():
    documented = {
        "cnn": build_cnn,
        "cnn_wide": build_wide_cnn,
        "mlp": build_mlp,
        "reference": build_reference_cnn,
    }

    registered = {key: MODEL_BUILDERS.get(key) for key in documented}

    assert registered == documented


@pytest.mark.parametrize("key", sorted(MODEL_BUILDERS))
def test_every_registered_builder_makes_a_28x28_to_10_softmax_model(key):
    model = MODEL_BUILDERS[key]()

    probabilities = np.asarray(model(random_images(2), training=False))

    assert tuple(model.input_shape) == (None, 28, 28, 1)
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_builders_give_each_documented_model_a_descriptive_name():
    expected = {
        "cnn": "mnist_cnn",
        "cnn_wide": "mnist_cnn_wide",
        "mlp": "mnist_mlp",
        "reference": "keras_example_cnn",
    }

    names = {key: MODEL_BUILDERS[key]().name for key in expected}

    assert names == expected
