"""Train a model reproducibly, stop cleanly, and save without half-written files.

The notebook writes its own `compile` and `fit` calls so the lesson stays in view;
this module holds the same steps for the command-line script and the benchmark,
plus what a careful run needs around them:

- `set_seeds` makes two runs with the same seed give the same model.
- `RECIPES` names the tested training settings (model, epochs, batch size,
  learning-rate schedule), chosen on the validation split only.
- `train` compiles and fits with one progress line per epoch, stops with a clear
  `TrainingError` when the loss becomes NaN, keeps the best weights so far on
  Ctrl-C, and checkpoints every epoch so an interrupted run can be resumed.
- `save_model` writes a `.keras` file atomically: a crash or Ctrl-C during the
  save never leaves a truncated model behind.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from mnist_helpers.errors import ModelFileError, TrainingError
from mnist_helpers.models import MODEL_BUILDERS, NUM_CLASSES

logger = logging.getLogger(__name__)

__all__ = [
    "RECIPES",
    "Recipe",
    "TrainingRun",
    "averaging_momentum",
    "one_cycle_schedule",
    "save_model",
    "set_seeds",
    "train",
]

CHECKPOINT_MODEL = "last_epoch.keras"
CHECKPOINT_STATE = "state.json"
DEFAULT_AVERAGING_MOMENTUM = 0.99


@dataclass(frozen=True)
class Recipe:
    """A named set of training settings.

    Attributes:
        name: Short name used on the command line (`--recipe NAME`).
        model: Key of `mnist_helpers.models.MODEL_BUILDERS`.
        epochs: Number of passes over the training set.
        batch_size: Images per gradient step.
        learning_rate: Peak learning rate of the schedule.
        schedule: "one-cycle" (warm-up, then cosine decay) or "constant".
        warmup_fraction: Share of the steps spent warming up (one-cycle only).
        label_smoothing: Share of each target spread over the other nine digits
            (0.1 asks for 0.91 on the right digit and 0.01 on each other one),
            which keeps the model from becoming over-confident; 0 turns it off.
        average_weights: Keep an exponential moving average of the weights and
            end training with it (Adam's `use_ema`), which smooths out the noise
            of the last steps.
        steps_per_execution: Batches run per call into TensorFlow. More saves
            Python overhead, but with a random augmentation layer and op
            determinism TensorFlow runs such multi-step loops much more slowly
            on a CPU (about 10 s instead of 6 s an epoch here), so the recipes
            that shift their images keep 1.
        description: One line shown by `--help`.
    """

    name: str
    model: str
    epochs: int
    batch_size: int
    learning_rate: float
    schedule: str = "one-cycle"
    warmup_fraction: float = 0.2
    label_smoothing: float = 0.0
    average_weights: bool = False
    steps_per_execution: int = 1
    description: str = ""


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            name="fast",
            model="cnn",
            epochs=6,
            batch_size=192,
            learning_rate=1e-2,
            label_smoothing=0.1,
            average_weights=True,
            description="the tutorial's CNN, under a minute on a 2-core CPU",
        ),
        Recipe(
            name="best",
            model="cnn_wide",
            epochs=18,
            batch_size=256,
            learning_rate=1e-2,
            label_smoothing=0.1,
            average_weights=True,
            description="a CNN with twice the filters, a few minutes on a CPU",
        ),
        Recipe(
            name="mlp",
            model="mlp",
            epochs=8,
            batch_size=128,
            learning_rate=2e-3,
            steps_per_execution=16,
            description="the feed-forward baseline of the original brief",
        ),
        Recipe(
            name="reference",
            model="reference",
            epochs=15,
            batch_size=128,
            learning_rate=1e-3,
            schedule="constant",
            steps_per_execution=16,
            description="the official Keras example convnet, for comparison",
        ),
    )
}
DEFAULT_RECIPE = "fast"


def set_seeds(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow, and ask TensorFlow for repeatable ops.

    Args:
        seed: Any non-negative integer.
        deterministic: Also enable TensorFlow's op determinism, which makes
            training about 15% slower on a CPU but repeatable to the last bit.
    """
    keras.utils.set_random_seed(seed)
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def one_cycle_schedule(
    peak_learning_rate: float, total_steps: int, warmup_fraction: float = 0.2
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Return a warm-up then cosine-decay learning-rate schedule.

    The rate climbs linearly from a tenth of the peak to the peak over the first
    `warmup_fraction` of the steps, then follows a cosine down to 1% of the peak.
    Built from Keras' own `CosineDecay`, so saved models load without custom code.

    Args:
        peak_learning_rate: Highest learning rate, reached after the warm-up.
        total_steps: Number of optimizer steps in the whole run.
        warmup_fraction: Share of the steps used for the warm-up, in [0, 1).

    Returns:
        A schedule to pass as `learning_rate` to a Keras optimizer.
    """
    warmup_steps = int(total_steps * warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak_learning_rate / 10,
        decay_steps=max(1, total_steps - warmup_steps),
        alpha=0.01,
        warmup_target=peak_learning_rate,
        warmup_steps=warmup_steps,
    )


def averaging_momentum(total_steps: int) -> float:
    """Return the weight-averaging momentum for a run of `total_steps` steps.

    Keras' default, 0.99, averages over roughly the last 100 steps. A short run
    (a quick try on a few thousand images) would then end with weights that are
    still half their random starting values, so the window is capped at a tenth
    of the run.
    """
    return min(DEFAULT_AVERAGING_MOMENTUM, max(0.0, 1 - 10 / max(total_steps, 1)))


def compile_for_recipe(
    model: keras.Model, recipe: Recipe, steps_per_epoch: int
) -> keras.Model:
    """Compile `model` with Adam, the recipe's schedule and cross-entropy loss.

    With label smoothing the loss compares the probabilities with one-hot
    targets, so `train` converts the integer labels for it.
    """
    if recipe.schedule == "one-cycle":
        learning_rate = one_cycle_schedule(
            recipe.learning_rate,
            steps_per_epoch * recipe.epochs,
            recipe.warmup_fraction,
        )
    else:
        learning_rate = recipe.learning_rate
    if recipe.label_smoothing > 0:
        loss = keras.losses.CategoricalCrossentropy(
            label_smoothing=recipe.label_smoothing
        )
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate=learning_rate,
            use_ema=recipe.average_weights,
            ema_momentum=averaging_momentum(steps_per_epoch * recipe.epochs),
        ),
        loss=loss,
        metrics=["accuracy"],
        steps_per_execution=recipe.steps_per_execution,
    )
    return model


class StopOnNaN(keras.callbacks.Callback):
    """Stop training with a `TrainingError` as soon as the loss is NaN or infinite."""

    def __init__(self, learning_rate: float | None = None) -> None:
        super().__init__()
        self.learning_rate = learning_rate

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        self.model.stop_training = True
        rate = f" ({self.learning_rate:g})" if self.learning_rate else ""
        raise TrainingError(
            f"The training loss became {float(loss)} at step {batch + 1}, so the "
            f"model stopped learning; lower the learning rate{rate}, for example "
            "by 10x, and check that the images are scaled to [0, 1]."
        )


class KeepBestWeights(keras.callbacks.Callback):
    """Remember the weights of the epoch with the best validation accuracy."""

    def __init__(self, monitor: str = "val_accuracy") -> None:
        super().__init__()
        self.monitor = monitor
        self.best_value = -math.inf
        self.best_epoch: int | None = None
        self.best_weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is not None and value >= self.best_value:
            self.best_value = float(value)
            self.best_epoch = epoch + 1
            self.best_weights = self.model.get_weights()


class RecordHistory(keras.callbacks.Callback):
    """Append each epoch's metrics to a dict, which survives Ctrl-C and resumes."""

    def __init__(self, history: dict[str, list[float]]) -> None:
        super().__init__()
        self.history = history

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))


class EpochCheckpoint(keras.callbacks.Callback):
    """Save the model, the history so far and the recipe after every epoch.

    Both files are written under temporary names first and renamed into place
    together at the end, so a run killed while saving leaves the previous
    epoch's pair: never a half-written file, and never a model of one epoch
    beside the state of another. The recipe is saved so that a resumed run
    finishes the schedule it started with.
    """

    def __init__(
        self, folder: Path, history: dict[str, list[float]], recipe: Recipe
    ) -> None:
        super().__init__()
        self.folder = folder
        self.history = history
        self.recipe = recipe

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        state = {
            "epochs_completed": epoch + 1,
            "history": self.history,
            "recipe": asdict(self.recipe),
        }
        model_path = self.folder / CHECKPOINT_MODEL
        state_path = self.folder / CHECKPOINT_STATE
        model_temporary = _temporary_path_beside(model_path)
        state_temporary = _temporary_path_beside(state_path)
        try:
            self.model.save(model_temporary)
            state_temporary.write_text(json.dumps(state), encoding="utf-8")
            # The slow part is done; the two renames follow each other at once.
            os.replace(model_temporary, model_path)
            os.replace(state_temporary, state_path)
        except OSError as error:
            raise TrainingError(
                f"Cannot write the checkpoint in {str(self.folder)!r}: "
                f"{error.strerror or error}; choose another --checkpoint-dir."
            ) from error
        finally:
            model_temporary.unlink(missing_ok=True)
            state_temporary.unlink(missing_ok=True)


@dataclass
class TrainingRun:
    """What `train` did.

    Attributes:
        model: The trained model (best weights restored if interrupted).
        history: Metric name to one value per completed epoch, resumed epochs
            included.
        epochs_completed: Epochs finished, counting those before a resume.
        interrupted: True if Ctrl-C stopped the run early.
        fit_seconds: Wall time spent in `fit` in this call.
        best_epoch: Epoch with the best validation accuracy, if any.
    """

    model: keras.Model
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_completed: int = 0
    interrupted: bool = False
    fit_seconds: float = 0.0
    best_epoch: int | None = None


def train(
    recipe: Recipe,
    x_train: np.ndarray,
    y_train: np.ndarray,
    validation_data: tuple[np.ndarray, np.ndarray],
    *,
    model: keras.Model | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    verbose: int = 2,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> TrainingRun:
    """Build (or take), compile and fit a model following `recipe`.

    Args:
        recipe: Training settings, for example `RECIPES["fast"]`.
        x_train: Scaled training images, (N, 28, 28, 1) float32.
        y_train: Training labels, (N,) integers 0-9.
        validation_data: `(x_validation, y_validation)`, used for the per-epoch
            report and for choosing the best weights, never the test set.
        model: A model to train instead of building `recipe.model`.
        checkpoint_dir: Folder for per-epoch checkpoints; created if needed.
        resume: Continue from the checkpoint in `checkpoint_dir`, with the
            recipe saved there (epochs, batch size, schedule); `recipe` is then
            used only if the checkpoint predates saved recipes.
        verbose: 2 prints one line per epoch, 0 prints nothing.
        callbacks: Extra Keras callbacks.

    Returns:
        A `TrainingRun`.

    Raises:
        TrainingError: If the loss becomes NaN, or `resume` finds no checkpoint.
    """
    history: dict[str, list[float]] = {}
    initial_epoch = 0
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None

    if resume:
        model, history, initial_epoch, saved_recipe = _load_checkpoint(folder)
        if saved_recipe is not None and saved_recipe != recipe:
            logger.warning(
                "Resuming with the settings saved in the checkpoint (recipe %r, "
                "%d epochs, batches of %d); options given for this run are ignored.",
                saved_recipe.name,
                saved_recipe.epochs,
                saved_recipe.batch_size,
            )
            recipe = saved_recipe
    else:
        if model is None:
            model = MODEL_BUILDERS[recipe.model]()
        steps_per_epoch = math.ceil(len(x_train) / recipe.batch_size)
        compile_for_recipe(model, recipe, steps_per_epoch)

    keep_best = KeepBestWeights()
    all_callbacks = [StopOnNaN(recipe.learning_rate), RecordHistory(history), keep_best]
    if folder is not None:
        _prepare_folder(folder)
        all_callbacks.append(EpochCheckpoint(folder, history, recipe))
    all_callbacks += callbacks or []

    if _expects_one_hot_labels(model):
        x_validation, y_validation = validation_data
        y_train = keras.utils.to_categorical(y_train, NUM_CLASSES)
        validation_data = (
            x_validation,
            keras.utils.to_categorical(y_validation, NUM_CLASSES),
        )

    run = TrainingRun(model=model, epochs_completed=initial_epoch)
    started = time.perf_counter()
    try:
        model.fit(
            x_train,
            y_train,
            batch_size=recipe.batch_size,
            epochs=recipe.epochs,
            initial_epoch=initial_epoch,
            validation_data=validation_data,
            callbacks=all_callbacks,
            verbose=verbose,
        )
    except KeyboardInterrupt:
        run.interrupted = True
        if keep_best.best_weights is not None:
            model.set_weights(keep_best.best_weights)
        logger.warning(
            "Training interrupted; kept the weights of epoch %s (best validation "
            "accuracy so far).",
            keep_best.best_epoch,
        )
    run.fit_seconds = time.perf_counter() - started

    run.history = history
    run.epochs_completed = len(history.get("loss", []))
    run.best_epoch = keep_best.best_epoch
    return run


def _expects_one_hot_labels(model: keras.Model) -> bool:
    """Return True if the model was compiled with a loss that takes one-hot labels."""
    return isinstance(model.loss, keras.losses.CategoricalCrossentropy)


def save_model(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Save `model` to a `.keras` file atomically.

    The model is written to a temporary file in the same folder, then renamed
    over `path`, so `path` is either the old file or the complete new one.

    Args:
        model: The model to save (with its optimizer state, if compiled).
        path: Destination, ending in `.keras`.

    Returns:
        The path written.

    Raises:
        ModelFileError: If the name does not end in `.keras`, or the folder does
            not exist or cannot be written.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(
            f"Cannot save the model to {str(path)!r}: the file name must end in "
            "'.keras', for example 'mnist_cnn.keras'."
        )
    folder = path.parent
    if not folder.is_dir():
        raise ModelFileError(
            f"Cannot save the model to {str(path)!r}: the folder {str(folder)!r} "
            "does not exist; create it first or choose another path."
        )

    temporary = _temporary_path_beside(path)
    try:
        model.save(temporary)
        os.replace(temporary, path)
    except OSError as error:
        raise ModelFileError(
            f"Cannot save the model to {str(path)!r}: {error.strerror or error}; "
            "choose a folder you can write to."
        ) from error
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _temporary_path_beside(path: Path) -> Path:
    """Return an unused hidden name in the folder of `path`, with the same suffix.

    The file is not created here, so it gets the usual permissions (0644 with
    the common umask) rather than the owner-only mode of `tempfile.mkstemp`.
    """
    return path.with_name(f".{path.stem}-{uuid.uuid4().hex[:12]}{path.suffix}")


def _prepare_folder(folder: Path) -> None:
    """Create the checkpoint folder, or raise a TrainingError saying why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TrainingError(
            f"Cannot create the checkpoint folder {str(folder)!r}: "
            f"{error.strerror or error}; choose another --checkpoint-dir."
        ) from error


def _load_checkpoint(
    folder: Path | None,
) -> tuple[keras.Model, dict[str, list[float]], int, Recipe | None]:
    """Load the model, history, epoch count and recipe saved by `EpochCheckpoint`."""
    if folder is None:
        raise TrainingError(
            "Cannot resume without a checkpoint folder; pass the --checkpoint-dir "
            "of the interrupted run."
        )
    model_path = folder / CHECKPOINT_MODEL
    state_path = folder / CHECKPOINT_STATE
    if not model_path.is_file() or not state_path.is_file():
        raise TrainingError(
            f"No checkpoint to resume in {str(folder)!r} (expected "
            f"{CHECKPOINT_MODEL} and {CHECKPOINT_STATE}); start a new run without "
            "--resume."
        )
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        history = {
            key: [float(v) for v in values] for key, values in state["history"].items()
        }
        epochs_completed = int(state["epochs_completed"])
        saved_recipe = Recipe(**state["recipe"]) if "recipe" in state else None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise TrainingError(
            f"The checkpoint state {str(state_path)!r} is damaged ({error}); delete "
            "the folder and start a new run without --resume."
        ) from error

    from mnist_helpers.evaluation import load_model

    model = load_model(model_path)
    logger.info("Resuming after epoch %d from %s", epochs_completed, folder)
    return model, history, epochs_completed, saved_recipe
