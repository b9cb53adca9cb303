"""Tests for mnist_helpers.training: seeds, schedule, train, resume and saving.

Every training here is tiny (a few hundred real MNIST digits, the MLP, batches of
32) so the whole file runs in seconds on a 2-core CPU.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest

from mnist_helpers.data import load_mnist
from mnist_helpers.errors import ModelFileError, TrainingError
from mnist_helpers.evaluation import load_model
from mnist_helpers.models import MODEL_BUILDERS
from mnist_helpers.preprocessing import scale_images
from mnist_helpers.training import (
    DEFAULT_RECIPE,
    RECIPES,
    Recipe,
    TrainingRun,
    averaging_momentum,
    one_cycle_schedule,
    save_model,
    set_seeds,
    train,
)

TRAIN_COUNT = 512
VALIDATION_COUNT = 256
BATCH_SIZE = 32
STEPS_PER_EPOCH = TRAIN_COUNT // BATCH_SIZE
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


def tiny_recipe(epochs: int = 1, **overrides) -> Recipe:
    """Return the MLP recipe shortened to `epochs` epochs of batches of 32."""
    return replace(RECIPES["mlp"], epochs=epochs, batch_size=BATCH_SIZE, **overrides)


@pytest.fixture(scope="module")
def small_mnist():
    """Return 512 scaled training digits and 256 validation digits of real MNIST."""
    (x_train, y_train), _ = load_mnist()
    images = scale_images(x_train[: TRAIN_COUNT + VALIDATION_COUNT])
    labels = y_train[: TRAIN_COUNT + VALIDATION_COUNT]
    return (
        (images[:TRAIN_COUNT], labels[:TRAIN_COUNT]),
        (images[TRAIN_COUNT:], labels[TRAIN_COUNT:]),
    )


def tiny_model() -> keras.Model:
    """Build a 7,850-weight softmax regression on 28x28x1 images."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def assert_same_weights(actual: list[np.ndarray], expected: list[np.ndarray]) -> None:
    """Check that two lists of weight arrays are equal, array by array."""
    assert len(actual) == len(expected)
    for actual_array, expected_array in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(actual_array, expected_array)


class CaptureWeights(keras.callbacks.Callback):
    """Keep a copy of the model's weights at the end of every epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.weights_by_epoch: dict[int, list[np.ndarray]] = {}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.weights_by_epoch[epoch + 1] = self.model.get_weights()


class ZeroWeightsAtEpoch(keras.callbacks.Callback):
    """Set every weight to zero when `epoch` (1-based) begins, ruining the model."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 == self.epoch:
            weights = self.model.get_weights()
            self.model.set_weights([np.zeros_like(array) for array in weights])


class PressCtrlCAfterEpoch(keras.callbacks.Callback):
    """Raise KeyboardInterrupt at the end of `epoch` (1-based), like Ctrl-C."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


class RecordStart(keras.callbacks.Callback):
    """Record the optimizer's step counter at the start and each epoch begun."""

    def __init__(self) -> None:
        super().__init__()
        self.iterations_at_start: int | None = None
        self.epochs_begun: list[int] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.iterations_at_start = int(self.model.optimizer.iterations.numpy())

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epochs_begun.append(epoch + 1)


# --- recipes and seeds ------------------------------------------------------------


def test_every_recipe_names_a_known_model_and_positive_settings():
    recipes = list(RECIPES.values())

    assert DEFAULT_RECIPE in RECIPES
    for recipe in recipes:
        assert RECIPES[recipe.name] is recipe
        assert recipe.model in MODEL_BUILDERS
        assert recipe.epochs >= 1
        assert recipe.batch_size >= 1
        assert recipe.learning_rate > 0
        assert recipe.schedule in {"one-cycle", "constant"}
        assert 0 <= recipe.warmup_fraction < 1
        assert 0 <= recipe.label_smoothing < 1
        assert recipe.steps_per_execution >= 1


def test_set_seeds_makes_two_trainings_end_with_identical_weights(small_mnist):
    (x_train, y_train), validation = small_mnist
    recipe = tiny_recipe(epochs=1)

    set_seeds(0)
    first = train(recipe, x_train, y_train, validation, verbose=0)
    set_seeds(0)
    second = train(recipe, x_train, y_train, validation, verbose=0)

    assert_same_weights(first.model.get_weights(), second.model.get_weights())
    assert first.history == second.history


def test_another_seed_gives_other_initial_weights():
    set_seeds(0)
    first = MODEL_BUILDERS["mlp"]()
    set_seeds(1)
    second = MODEL_BUILDERS["mlp"]()

    first_kernel = first.get_layer("hidden1").get_weights()[0]
    second_kernel = second.get_layer("hidden1").get_weights()[0]

    assert not np.array_equal(first_kernel, second_kernel)


# --- learning-rate schedule -------------------------------------------------------


def schedule_values(schedule, total_steps: int) -> np.ndarray:
    """Return the schedule's learning rate at every step from 0 to total_steps."""
    return np.array([float(schedule(step)) for step in range(total_steps + 1)])


def test_one_cycle_schedule_starts_at_a_tenth_of_the_peak():
    schedule = one_cycle_schedule(0.01, total_steps=100, warmup_fraction=0.2)

    first_rate = float(schedule(0))

    assert first_rate == pytest.approx(0.001, rel=1e-5)


def test_one_cycle_schedule_reaches_the_peak_at_the_end_of_warm_up():
    schedule = one_cycle_schedule(0.01, total_steps=100, warmup_fraction=0.2)

    rates = schedule_values(schedule, 100)

    assert rates[20] == pytest.approx(0.01, rel=1e-5)
    assert rates.max() == pytest.approx(0.01, rel=1e-5)


def test_one_cycle_schedule_ends_at_one_percent_of_the_peak():
    schedule = one_cycle_schedule(0.01, total_steps=100, warmup_fraction=0.2)

    last_rate = float(schedule(100))

    assert last_rate == pytest.approx(0.0001, rel=1e-3)


def test_one_cycle_schedule_rises_during_warm_up_then_only_decreases():
    schedule = one_cycle_schedule(0.01, total_steps=100, warmup_fraction=0.2)

    rates = schedule_values(schedule, 100)

    assert np.all(np.diff(rates[:21]) > 0)
    assert np.all(np.diff(rates[20:]) <= 0)
    assert rates[60] < rates[20]


def test_one_cycle_schedule_without_warm_up_starts_at_the_peak_and_decays():
    schedule = one_cycle_schedule(0.02, total_steps=50, warmup_fraction=0.0)

    rates = schedule_values(schedule, 50)

    assert rates[0] == pytest.approx(0.02, rel=1e-5)
    assert np.all(np.diff(rates) <= 0)
    assert rates[50] == pytest.approx(0.0002, rel=1e-3)


# --- train ------------------------------------------------------------------------


def test_train_returns_one_value_per_epoch_for_every_metric(small_mnist):
    (x_train, y_train), validation = small_mnist
    set_seeds(0)

    run = train(tiny_recipe(epochs=2), x_train, y_train, validation, verbose=0)

    assert isinstance(run, TrainingRun)
    assert run.epochs_completed == 2
    assert run.interrupted is False
    assert run.fit_seconds > 0
    for metric in METRICS:
        assert len(run.history[metric]) == 2
        assert all(np.isfinite(run.history[metric]))
    assert run.best_epoch in (1, 2)


def test_train_fits_the_model_it_is_given(small_mnist):
    (x_train, y_train), validation = small_mnist
    model = tiny_model()

    run = train(tiny_recipe(), x_train, y_train, validation, model=model, verbose=0)

    assert run.model is model
    assert model.optimizer is not None
    assert int(model.optimizer.iterations.numpy()) == STEPS_PER_EPOCH


def test_label_smoothing_trains_on_integer_labels_with_one_hot_targets(small_mnist):
    (x_train, y_train), validation = small_mnist
    set_seeds(0)

    run = train(
        tiny_recipe(epochs=2, label_smoothing=0.1),
        x_train,
        y_train,
        validation,
        verbose=0,
    )

    loss = run.model.loss
    assert isinstance(loss, keras.losses.CategoricalCrossentropy)
    assert loss.label_smoothing == pytest.approx(0.1)
    for metric in METRICS:
        assert len(run.history[metric]) == 2
    assert run.history["val_accuracy"][-1] > 0.5


def test_averaged_weights_replace_the_last_step_weights_at_the_end(small_mnist):
    (x_train, y_train), validation = small_mnist
    recipe = tiny_recipe(epochs=1, average_weights=True)
    set_seeds(0)
    plain_run = train(
        replace(recipe, average_weights=False), x_train, y_train, validation
    )
    set_seeds(0)

    averaged_run = train(recipe, x_train, y_train, validation, verbose=0)

    assert averaged_run.model.optimizer.use_ema is True
    plain = plain_run.model.get_layer("digit").kernel.numpy()
    averaged = averaged_run.model.get_layer("digit").kernel.numpy()
    assert not np.allclose(plain, averaged)


def test_weight_averaging_keeps_keras_momentum_for_full_runs_only():
    fast = RECIPES["fast"]
    full_run_steps = fast.epochs * 287

    assert averaging_momentum(full_run_steps) == pytest.approx(0.99)
    assert averaging_momentum(63) == pytest.approx(1 - 10 / 63)
    assert averaging_momentum(5) == 0.0


def test_resume_keeps_training_a_label_smoothing_model(small_mnist, tmp_path):
    (x_train, y_train), validation = small_mnist
    recipe = tiny_recipe(epochs=2, label_smoothing=0.1)
    set_seeds(0)
    train(
        recipe,
        x_train,
        y_train,
        validation,
        checkpoint_dir=tmp_path,
        callbacks=[PressCtrlCAfterEpoch(1)],
        verbose=0,
    )

    run = train(
        recipe,
        x_train,
        y_train,
        validation,
        checkpoint_dir=tmp_path,
        resume=True,
        verbose=0,
    )

    assert run.epochs_completed == 2
    assert isinstance(run.model.loss, keras.losses.CategoricalCrossentropy)


def test_resume_finishes_the_saved_recipe_whatever_recipe_it_is_given(
    small_mnist, tmp_path
):
    (x_train, y_train), validation = small_mnist
    started_with = tiny_recipe(epochs=3)
    set_seeds(0)
    train(
        started_with,
        x_train,
        y_train,
        validation,
        checkpoint_dir=tmp_path,
        callbacks=[PressCtrlCAfterEpoch(1)],
        verbose=0,
    )
    probe = RecordStart()

    run = train(
        replace(started_with, epochs=1, batch_size=64),
        x_train,
        y_train,
        validation,
        checkpoint_dir=tmp_path,
        resume=True,
        callbacks=[probe],
        verbose=0,
    )

    assert probe.epochs_begun == [2, 3]
    assert run.epochs_completed == 3
    assert int(run.model.optimizer.iterations.numpy()) == 3 * STEPS_PER_EPOCH
    state = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert state["recipe"]["epochs"] == 3
    assert state["recipe"]["batch_size"] == BATCH_SIZE


def test_train_stops_with_a_training_error_when_the_loss_becomes_nan(small_mnist):
    (x_train, y_train), validation = small_mnist
    recipe = tiny_recipe(learning_rate=1e12, schedule="constant")
    set_seeds(0)

    with pytest.raises(TrainingError) as error:
        train(recipe, x_train[:256], y_train[:256], validation, verbose=0)

    message = str(error.value)
    assert "nan" in message.lower()
    assert "stopped" in message
    assert "learning rate" in message
    assert "1e+12" in message


# --- Ctrl-C, checkpoints and resuming --------------------------------------------


@pytest.fixture(scope="module")
def interrupted_run(small_mnist, tmp_path_factory):
    """Run 4 epochs, ruin the weights as epoch 2 begins, and press Ctrl-C after it.

    Zeroing the weights makes epoch 2 score far worse on validation than epoch 1,
    so keeping the best weights and keeping the last ones give different models.
    """
    (x_train, y_train), validation = small_mnist
    folder = tmp_path_factory.mktemp("interrupted") / "checkpoints" / "run"
    capture = CaptureWeights()
    callbacks = [ZeroWeightsAtEpoch(2), capture, PressCtrlCAfterEpoch(2)]
    set_seeds(0)

    run = train(
        tiny_recipe(epochs=4),
        x_train,
        y_train,
        validation,
        checkpoint_dir=folder,
        callbacks=callbacks,
        verbose=0,
    )

    return run, capture.weights_by_epoch, folder


def test_ctrl_c_stops_the_run_after_the_epochs_already_completed(interrupted_run):
    run, _, _ = interrupted_run

    completed = run.epochs_completed

    assert run.interrupted is True
    assert completed == 2
    assert all(len(run.history[metric]) == 2 for metric in METRICS)


def test_ctrl_c_keeps_the_weights_of_the_best_validation_epoch(interrupted_run):
    run, weights_by_epoch, _ = interrupted_run
    val_accuracy = run.history["val_accuracy"]
    assert val_accuracy[1] < val_accuracy[0], "epoch 2 should have been ruined"

    kept_weights = run.model.get_weights()

    assert run.best_epoch == 1
    assert_same_weights(kept_weights, weights_by_epoch[1])
    assert not all(
        np.array_equal(kept, last)
        for kept, last in zip(kept_weights, weights_by_epoch[2], strict=True)
    )


def test_checkpoint_folder_holds_the_last_epoch_and_no_temporary_files(
    interrupted_run,
):
    run, weights_by_epoch, folder = interrupted_run

    names = sorted(path.name for path in folder.iterdir())
    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    checkpoint = load_model(folder / "last_epoch.keras")

    assert names == ["last_epoch.keras", "state.json"]
    assert state["epochs_completed"] == 2
    assert state["history"] == run.history
    assert_same_weights(checkpoint.get_weights(), weights_by_epoch[2])


def test_ctrl_c_while_checkpointing_keeps_the_previous_epochs_pair(
    small_mnist, tmp_path, monkeypatch
):
    (x_train, y_train), validation = small_mnist
    capture = CaptureWeights()
    write_text = Path.write_text
    state_writes = []

    def press_ctrl_c_on_second_state(self, *arguments, **keywords):
        if self.name.startswith(".state"):
            state_writes.append(self)
            if len(state_writes) == 2:
                raise KeyboardInterrupt
        return write_text(self, *arguments, **keywords)

    monkeypatch.setattr(Path, "write_text", press_ctrl_c_on_second_state)
    set_seeds(0)

    run = train(
        tiny_recipe(epochs=3),
        x_train,
        y_train,
        validation,
        checkpoint_dir=tmp_path,
        callbacks=[capture],
        verbose=0,
    )

    names = sorted(path.name for path in tmp_path.iterdir())
    state = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    checkpoint = load_model(tmp_path / "last_epoch.keras")
    assert run.interrupted is True
    assert names == ["last_epoch.keras", "state.json"]
    assert state["epochs_completed"] == 1
    assert_same_weights(checkpoint.get_weights(), capture.weights_by_epoch[1])


@pytest.fixture(scope="module")
def resumed_run(interrupted_run, small_mnist, tmp_path_factory):
    """Resume a copy of the interrupted run's checkpoint and finish its 4 epochs."""
    (x_train, y_train), validation = small_mnist
    _, _, interrupted_folder = interrupted_run
    folder = tmp_path_factory.mktemp("resumed") / "run"
    shutil.copytree(interrupted_folder, folder)
    probe = RecordStart()

    run = train(
        tiny_recipe(epochs=4),
        x_train,
        y_train,
        validation,
        checkpoint_dir=folder,
        resume=True,
        callbacks=[probe],
        verbose=0,
    )

    return run, probe, folder


def test_resume_continues_at_epoch_3_and_completes_the_history(
    interrupted_run, resumed_run
):
    interrupted, _, _ = interrupted_run
    run, probe, _ = resumed_run

    history = run.history

    assert probe.epochs_begun == [3, 4]
    assert run.epochs_completed == 4
    assert run.interrupted is False
    for metric in METRICS:
        assert len(history[metric]) == 4
        assert history[metric][:2] == interrupted.history[metric]


def test_resume_continues_the_optimizer_step_count(resumed_run):
    run, probe, _ = resumed_run

    final_iterations = int(run.model.optimizer.iterations.numpy())

    assert probe.iterations_at_start == 2 * STEPS_PER_EPOCH
    assert final_iterations == 4 * STEPS_PER_EPOCH


def test_resume_updates_the_checkpoint_to_the_last_epoch(resumed_run):
    _, _, folder = resumed_run

    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))

    assert state["epochs_completed"] == 4
    assert sorted(path.name for path in folder.iterdir()) == [
        "last_epoch.keras",
        "state.json",
    ]


def test_resume_without_a_checkpoint_folder_raises_a_training_error(small_mnist):
    (x_train, y_train), validation = small_mnist

    with pytest.raises(TrainingError, match="--checkpoint-dir"):
        train(tiny_recipe(), x_train, y_train, validation, resume=True, verbose=0)


def test_resume_from_an_empty_folder_raises_a_training_error(small_mnist, tmp_path):
    (x_train, y_train), validation = small_mnist

    with pytest.raises(TrainingError, match="No checkpoint to resume") as error:
        train(
            tiny_recipe(),
            x_train,
            y_train,
            validation,
            checkpoint_dir=tmp_path,
            resume=True,
            verbose=0,
        )

    assert str(tmp_path) in str(error.value)
    assert "without --resume" in str(error.value)


def test_resume_from_a_damaged_state_file_raises_a_training_error(
    small_mnist, tmp_path
):
    (x_train, y_train), validation = small_mnist
    save_model(tiny_model(), tmp_path / "last_epoch.keras")
    (tmp_path / "state.json").write_text("{not json", encoding="utf-8")

    with pytest.raises(TrainingError, match="damaged"):
        train(
            tiny_recipe(),
            x_train,
            y_train,
            validation,
            checkpoint_dir=tmp_path,
            resume=True,
            verbose=0,
        )


# --- save_model -------------------------------------------------------------------


def test_save_model_writes_a_file_that_load_model_reads_back(tmp_path):
    model = tiny_model()
    images = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)

    written = save_model(model, tmp_path / "digits.keras")

    loaded = load_model(written)
    assert written == tmp_path / "digits.keras"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["digits.keras"]
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-6
    )


def test_save_model_replaces_an_existing_file(tmp_path):
    path = tmp_path / "digits.keras"
    path.write_bytes(b"an older model")
    model = tiny_model()

    save_model(model, path)

    assert_same_weights(load_model(path).get_weights(), model.get_weights())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.keras"]


def test_saved_model_gets_the_usual_file_permissions(tmp_path):
    old_umask = os.umask(0o022)
    try:
        path = save_model(tiny_model(), tmp_path / "digits.keras")
    finally:
        os.umask(old_umask)

    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize("name", ["digits.h5", "digits", "digits.keras.tmp"])
def test_save_model_rejects_a_name_not_ending_in_keras(tmp_path, name):
    with pytest.raises(ModelFileError, match=r"must end in '\.keras'"):
        save_model(tiny_model(), tmp_path / name)

    assert list(tmp_path.iterdir()) == []


def test_save_model_rejects_a_folder_that_does_not_exist(tmp_path):
    path = tmp_path / "missing" / "digits.keras"

    with pytest.raises(ModelFileError, match="does not exist") as error:
        save_model(tiny_model(), path)

    assert str(tmp_path / "missing") in str(error.value)
    assert not (tmp_path / "missing").exists()


def test_a_failed_save_leaves_the_older_file_untouched_and_no_leftovers(
    tmp_path, monkeypatch
):
    path = tmp_path / "digits.keras"
    path.write_bytes(b"the older, complete model")
    model = tiny_model()

    def save_half_then_fail(filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model, "save", save_half_then_fail)

    with pytest.raises(ModelFileError, match="No space left on device"):
        save_model(model, path)

    assert path.read_bytes() == b"the older, complete model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.keras"]


def test_a_failed_first_save_leaves_no_file_at_all(tmp_path, monkeypatch):
    model = tiny_model()

    def save_half_then_fail(filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model, "save", save_half_then_fail)

    with pytest.raises(ModelFileError):
        save_model(model, tmp_path / "digits.keras")

    assert list(tmp_path.iterdir()) == []
