"""Command-line entry point: `python -m mnist_helpers train|predict`.

`train` trains and evaluates a model and ends with exactly two lines::

    Training complete.
    Test accuracy: 99.41%

`predict` prints the digit and its probability for each image file.

Bad arguments end with a one-line error and exit code 2; a failure while
running (damaged data, NaN loss) ends with a one-line error and exit code 1;
Ctrl-C ends with exit code 130 after keeping what was trained.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from mnist_helpers.errors import MnistHelpersError

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

logger = logging.getLogger("mnist_helpers")

RECIPE_NAMES = ("fast", "best", "reference", "mlp")


def _whole_number_at_least(minimum: int) -> Callable[[str], int]:
    """Return an argparse type for whole numbers of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} must be {minimum} or more")
        return value

    return parse


_positive_int = _whole_number_at_least(1)
_non_negative_int = _whole_number_at_least(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `python -m mnist_helpers`."""
    parser = argparse.ArgumentParser(
        prog="python -m mnist_helpers",
        description="Train, evaluate and use the MNIST digit classifier of the "
        "Keras tutorial. Runs on a CPU, offline, with the MNIST copy shipped in "
        "the package.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train and evaluate a model, then print the test accuracy",
        description="Train a model on the MNIST training set (minus a validation "
        "split), evaluate it on the test set, and end with the lines "
        "'Training complete.' and 'Test accuracy: NN.NN%'.",
    )
    # Checks made after parsing report with the train command's own usage line.
    train.set_defaults(command_parser=train)
    train.add_argument(
        "--recipe",
        choices=RECIPE_NAMES,
        help="training settings: 'fast' (default for --model cnn, the tutorial's "
        "recipe), 'best' (longer, more accurate), 'reference' (the official Keras "
        "example), 'mlp' (default for --model mlp)",
    )
    train.add_argument(
        "--model",
        choices=("cnn", "mlp"),
        help="architecture: the convolutional network (cnn, default) or the "
        "feed-forward baseline (mlp); picks the matching recipe if --recipe is "
        "not given",
    )
    train.add_argument(
        "--epochs", type=_positive_int, help="passes over the training set"
    )
    train.add_argument(
        "--batch-size", type=_positive_int, help="images per gradient step"
    )
    train.add_argument(
        "--learning-rate", type=_positive_float, help="peak learning rate"
    )
    train.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        help="random seed of the weights, the shuffling and the validation split "
        "(default: 0)",
    )
    train.add_argument(
        "--validation-size",
        type=_positive_int,
        default=5000,
        help="training images held out to validate each epoch (default: 5000)",
    )
    train.add_argument(
        "--train-size",
        type=_positive_int,
        metavar="N",
        help="train on the first N training images only, for a quick try on a slow "
        "machine (default: all that the validation split leaves)",
    )
    train.add_argument(
        "--data-dir",
        type=Path,
        help="folder holding the four MNIST IDX files (default: $MNIST_DATA_DIR, "
        "else the copy shipped with the package)",
    )
    train.add_argument(
        "--save",
        type=Path,
        metavar="PATH",
        help="save the trained model to PATH (a .keras file)",
    )
    train.add_argument(
        "--checkpoint-dir",
        type=Path,
        metavar="DIR",
        help="save a checkpoint after every epoch in DIR, so an interrupted run "
        "can be resumed",
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run saved in --checkpoint-dir",
    )

    predict = commands.add_parser(
        "predict",
        help="predict the digit in image files with a saved model",
        description="Print the predicted digit and its probability for each image. "
        "Photos of a dark digit on light paper are converted the way MNIST digits "
        "were made.",
    )
    predict.add_argument(
        "--model",
        type=Path,
        required=True,
        metavar="PATH",
        help="a .keras model saved by 'train --save'",
    )
    predict.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    return parser


def _check_train_arguments(
    parser: argparse.ArgumentParser, arguments: argparse.Namespace
) -> None:
    """Reject argument combinations argparse cannot check on its own."""
    if arguments.data_dir is not None and not arguments.data_dir.is_dir():
        parser.error(f"--data-dir {arguments.data_dir}: no such folder")
    if arguments.resume and arguments.checkpoint_dir is None:
        parser.error("--resume needs the --checkpoint-dir of the interrupted run")
    if arguments.save is not None:
        save = arguments.save
        if save.suffix != ".keras":
            parser.error(f"--save {save}: the file name must end in .keras")
        if save.is_dir():
            parser.error(f"--save {save}: is a folder; give a file name ending .keras")
        folder = save.parent
        if not folder.is_dir():
            parser.error(f"--save {save}: the folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            parser.error(f"--save {save}: the folder {folder} is not writable")
    if arguments.recipe == "mlp" and arguments.model == "cnn":
        parser.error("--recipe mlp trains the mlp model; drop --model cnn")
    if arguments.recipe not in (None, "mlp") and arguments.model == "mlp":
        parser.error(f"--recipe {arguments.recipe} trains a CNN; drop --model mlp")


def _resolve_recipe(arguments: argparse.Namespace):
    """Return the recipe chosen on the command line, with overrides applied."""
    from dataclasses import replace

    from mnist_helpers.training import DEFAULT_RECIPE, RECIPES

    name = arguments.recipe or ("mlp" if arguments.model == "mlp" else DEFAULT_RECIPE)
    recipe = RECIPES[name]
    overrides = {
        "epochs": arguments.epochs,
        "batch_size": arguments.batch_size,
        "learning_rate": arguments.learning_rate,
    }
    return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


def run_train(arguments: argparse.Namespace) -> int:
    """Train, evaluate and print the two closing lines; return the exit code."""
    from mnist_helpers import data, preprocessing
    from mnist_helpers.environment import import_tensorflow_quietly

    # Load the data before TensorFlow, so a data problem is reported at once.
    (x_train, y_train), (x_test, y_test) = data.load_mnist(arguments.data_dir)
    import_tensorflow_quietly()
    from mnist_helpers import training
    from mnist_helpers.evaluation import model_accuracy

    recipe = _resolve_recipe(arguments)
    x_train = preprocessing.scale_images(x_train)
    x_test = preprocessing.scale_images(x_test)
    try:
        (x_fit, y_fit), validation = preprocessing.split_train_validation(
            x_train, y_train, arguments.validation_size, seed=arguments.seed
        )
    except ValueError as error:
        print(f"error: --validation-size: {error}", file=sys.stderr)
        return EXIT_USAGE
    if arguments.train_size is not None:
        x_fit, y_fit = x_fit[: arguments.train_size], y_fit[: arguments.train_size]

    training.set_seeds(arguments.seed)
    run = training.train(
        recipe,
        x_fit,
        y_fit,
        validation,
        checkpoint_dir=arguments.checkpoint_dir,
        resume=arguments.resume,
    )
    if arguments.save is not None:
        training.save_model(run.model, arguments.save)
        logger.info("Saved the model to %s", arguments.save)
    if run.interrupted:
        where = (
            f"; resume with --resume --checkpoint-dir {arguments.checkpoint_dir}"
            if arguments.checkpoint_dir
            else ""
        )
        print(
            f"Training interrupted after {run.epochs_completed} epoch(s), kept the "
            f"weights of epoch {run.best_epoch}{where}.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED

    test_accuracy = model_accuracy(run.model, x_test, y_test)
    print("Training complete.")
    print(f"Test accuracy: {100 * test_accuracy:.2f}%")
    return 0


def run_predict(arguments: argparse.Namespace) -> int:
    """Print the predicted digit of each image; return the exit code."""
    from mnist_helpers.environment import import_tensorflow_quietly
    from mnist_helpers.errors import ImageInputError

    import_tensorflow_quietly()
    from mnist_helpers.evaluation import load_model, predict_digits

    model = load_model(arguments.model)
    exit_code = 0
    for path in arguments.images:
        try:
            (digit,), (confidence,) = predict_digits(model, [path])
        except ImageInputError as error:
            print(f"error: {_image_error_message(path, error)}", file=sys.stderr)
            exit_code = EXIT_USAGE
            continue
        print(f"{path}: {digit} ({100 * confidence:.1f}%)")
    return exit_code


def _image_error_message(path: Path, error: MnistHelpersError) -> str:
    """Return the reason an image was rejected, starting with its file name."""
    # predict_digits wraps the reason as "Image 0 of the batch: ..."; the
    # reason itself, with the file's name, is what the user needs to see.
    cause = error.__cause__
    message = str(cause if isinstance(cause, MnistHelpersError) else error)
    return message if str(path) in message else f"{path}: {message}"


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command == "train":
        _check_train_arguments(arguments.command_parser, arguments)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    logger.setLevel(logging.INFO)
    try:
        if arguments.command == "train":
            return run_train(arguments)
        return run_predict(arguments)
    except MnistHelpersError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE if _is_usage_error(error) else EXIT_FAILURE
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED


def _is_usage_error(error: MnistHelpersError) -> bool:
    """Return True for errors caused by what the user passed on the command line."""
    from mnist_helpers.errors import ImageInputError, ModelFileError

    return isinstance(error, ImageInputError | ModelFileError)
