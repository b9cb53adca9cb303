"""Tests for the command line, `python -m mnist_helpers train|predict`.

Argument errors are checked in-process with `cli.main`, which is fast; a few
run as real processes to prove the user sees a one-line error, not a traceback.
Each process that trains or predicts imports TensorFlow (5-10 s), so only one
short training runs (2,000 digits, 1 epoch) and its saved model is reused.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json
import logging
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from mnist_helpers import cli
from mnist_helpers.data import load_mnist
from mnist_helpers.training import RECIPES

ROOT = Path(__file__).resolve().parents[1]
TRAIN_OPTIONS = [
    "--epochs",
    "--batch-size",
    "--learning-rate",
    "--seed",
    "--model",
    "--recipe",
    "--data-dir",
    "--save",
    "--checkpoint-dir",
    "--resume",
    "--train-size",
    "--validation-size",
]
TEST_ACCURACY_LINE = re.compile(r"^Test accuracy: (\d{2}\.\d{2})%$")
PREDICTION_LINE = re.compile(r"^(?P<path>.+): (?P<digit>\d) \((?P<percent>\d+\.\d)%\)$")

# Each case: the arguments after `train`, and the option the error must name.
# "{tmp}" is replaced by the test's temporary folder.
BAD_TRAIN_ARGUMENTS = [
    (["--epochs", "0"], "--epochs"),
    (["--epochs", "-3"], "--epochs"),
    (["--epochs", "1.5"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "-4"], "--batch-size"),
    (["--learning-rate", "0"], "--learning-rate"),
    (["--learning-rate", "-1"], "--learning-rate"),
    (["--learning-rate", "abc"], "--learning-rate"),
    (["--learning-rate", "nan"], "--learning-rate"),
    (["--learning-rate", "inf"], "--learning-rate"),
    (["--seed", "-1"], "--seed"),
    (["--train-size", "0"], "--train-size"),
    (["--validation-size", "0"], "--validation-size"),
    (["--model", "resnet"], "--model"),
    (["--recipe", "nope"], "--recipe"),
    (["--recipe", "mlp", "--model", "cnn"], "--recipe"),
    (["--recipe", "best", "--model", "mlp"], "--recipe"),
    (["--save", "{tmp}/missing/model.keras"], "--save"),
    (["--save", "{tmp}/model.h5"], "--save"),
    (["--save", "{tmp}"], "--save"),
    (["--resume"], "--resume"),
    (["--data-dir", "{tmp}/no-such-folder"], "--data-dir"),
]
BAD_ARGUMENT_IDS = ["_".join(arguments) for arguments, _ in BAD_TRAIN_ARGUMENTS]


def run_cli(
    *arguments: str, cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run `python -m mnist_helpers ARGUMENTS` in `cwd` and capture its output."""
    environment = dict(os.environ)
    environment.pop("MNIST_DATA_DIR", None)
    environment["TF_CPP_MIN_LOG_LEVEL"] = "3"
    environment["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "mnist_helpers", *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def error_lines(stderr: str) -> list[str]:
    """Return the lines of `stderr` that report an error."""
    return [line for line in stderr.splitlines() if "error:" in line]


def fill_in_tmp(arguments: list[str], tmp_path: Path) -> list[str]:
    """Replace "{tmp}" in each argument by the temporary folder."""
    return [argument.replace("{tmp}", str(tmp_path)) for argument in arguments]


@pytest.fixture
def in_process_cli(monkeypatch: pytest.MonkeyPatch):
    """Undo what `cli.main` changes in the process: logging and the environment."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    root_handlers = list(logging.getLogger().handlers)
    package_logger = logging.getLogger("mnist_helpers")
    package_level = package_logger.level

    yield cli.main

    logging.getLogger().handlers[:] = root_handlers
    package_logger.setLevel(package_level)


# --- help -------------------------------------------------------------------------


def test_help_names_the_train_and_predict_commands(tmp_path):
    result = run_cli("--help", cwd=tmp_path)

    assert result.returncode == 0
    assert "train" in result.stdout
    assert "predict" in result.stdout


def test_train_help_mentions_every_option(tmp_path):
    result = run_cli("train", "--help", cwd=tmp_path)

    missing = [option for option in TRAIN_OPTIONS if option not in result.stdout]

    assert result.returncode == 0
    assert missing == []
    for recipe_name in cli.RECIPE_NAMES:
        assert recipe_name in result.stdout


def test_predict_help_mentions_the_model_and_the_images(tmp_path):
    result = run_cli("predict", "--help", cwd=tmp_path)

    assert result.returncode == 0
    assert "--model" in result.stdout
    assert "IMAGE" in result.stdout


def test_every_command_line_recipe_is_a_training_recipe():
    parser_recipes = set(cli.RECIPE_NAMES)

    training_recipes = set(RECIPES)

    assert parser_recipes <= training_recipes


def test_every_training_recipe_can_be_chosen_on_the_command_line():
    # Recipe.name is documented as the name used with `--recipe NAME`.
    parser_recipes = set(cli.RECIPE_NAMES)

    unreachable = sorted(set(RECIPES) - parser_recipes)

    assert unreachable == []


# --- bad arguments ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "option"), BAD_TRAIN_ARGUMENTS, ids=BAD_ARGUMENT_IDS
)
def test_bad_train_argument_exits_2_with_one_error_line_naming_it(
    in_process_cli, capsys, tmp_path, arguments, option
):
    with pytest.raises(SystemExit) as exit_info:
        in_process_cli(["train", *fill_in_tmp(arguments, tmp_path)])

    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "Traceback" not in stderr
    assert len(error_lines(stderr)) == 1
    assert option in error_lines(stderr)[0]
    assert stderr.splitlines()[-1] == error_lines(stderr)[0]


def test_no_command_exits_2(in_process_cli, capsys):
    with pytest.raises(SystemExit) as exit_info:
        in_process_cli([])

    assert exit_info.value.code == 2
    assert len(error_lines(capsys.readouterr().err)) == 1


def test_predict_without_an_image_exits_2(in_process_cli, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        in_process_cli(["predict", "--model", str(tmp_path / "model.keras")])

    assert exit_info.value.code == 2
    assert "IMAGE" in error_lines(capsys.readouterr().err)[0]


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        (["--epochs", "0"], "--epochs"),
        (["--learning-rate", "abc"], "--learning-rate"),
        (["--model", "resnet"], "--model"),
        (["--save", "{tmp}/model.h5"], "--save"),
        (["--resume"], "--resume"),
    ],
    ids=["epochs", "learning-rate", "model", "save", "resume"],
)
def test_bad_argument_in_a_real_process_prints_usage_and_one_error_line(
    tmp_path, arguments, option
):
    result = run_cli("train", *fill_in_tmp(arguments, tmp_path), cwd=tmp_path)

    lines = result.stderr.splitlines()
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("usage: python -m mnist_helpers")
    assert error_lines(result.stderr) == [lines[-1]]
    assert option in lines[-1]
    assert result.stdout == ""


def test_resolve_recipe_follows_the_model_and_applies_overrides():
    parser = cli.build_parser()
    arguments = parser.parse_args(
        ["train", "--model", "mlp", "--epochs", "3", "--batch-size", "16"]
    )

    recipe = cli._resolve_recipe(arguments)

    assert recipe.name == "mlp"
    assert recipe.model == "mlp"
    assert recipe.epochs == 3
    assert recipe.batch_size == 16
    assert recipe.learning_rate == RECIPES["mlp"].learning_rate


def test_train_without_recipe_or_model_uses_the_fast_recipe():
    arguments = cli.build_parser().parse_args(["train"])

    recipe = cli._resolve_recipe(arguments)

    assert recipe == RECIPES["fast"]


# --- failures while running ---------------------------------------------------------


def test_empty_data_dir_exits_1_with_one_line_naming_the_folder(tmp_path):
    empty_folder = tmp_path / "no_mnist_here"
    empty_folder.mkdir()

    result = run_cli("train", "--data-dir", str(empty_folder), cwd=tmp_path)

    errors = error_lines(result.stderr)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(errors) == 1
    assert errors[0].startswith("error: ")
    assert str(empty_folder) in errors[0]
    assert "Test accuracy" not in result.stdout


def test_validation_size_larger_than_mnist_exits_with_one_error_line(
    in_process_cli, capsys
):
    exit_code = in_process_cli(["train", "--validation-size", "70000"])

    errors = error_lines(capsys.readouterr().err)
    assert exit_code == 2
    assert len(errors) == 1
    assert errors[0].startswith("error: --validation-size")
    assert "70000" in errors[0]


def test_predict_with_a_missing_model_exits_2_with_one_error_line(
    in_process_cli, capsys, tmp_path
):
    image = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(image)
    missing_model = tmp_path / "nowhere" / "model.keras"

    exit_code = in_process_cli(["predict", "--model", str(missing_model), str(image)])

    captured = capsys.readouterr()
    errors = error_lines(captured.err)
    assert exit_code == 2
    assert len(errors) == 1
    assert str(missing_model) in errors[0]
    assert "train --save" in errors[0]
    assert captured.out == ""


def test_predict_with_a_text_file_named_model_keras_exits_2(
    in_process_cli, capsys, tmp_path
):
    fake_model = tmp_path / "model.keras"
    fake_model.write_text("this is not a model\n", encoding="utf-8")
    image = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(image)

    exit_code = in_process_cli(["predict", "--model", str(fake_model), str(image)])

    errors = error_lines(capsys.readouterr().err)
    assert exit_code == 2
    assert len(errors) == 1
    assert "not a Keras archive" in errors[0]


def test_save_into_a_folder_without_write_permission_exits_2(
    in_process_cli, capsys, tmp_path, monkeypatch
):
    # Root may write anywhere, so make the permission check answer as for a
    # student's read-only folder.
    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)

    with pytest.raises(SystemExit) as exited:
        in_process_cli(["train", "--save", str(tmp_path / "model.keras")])

    errors = error_lines(capsys.readouterr().err)
    assert exited.value.code == 2
    assert errors == [
        f"python -m mnist_helpers train: error: --save {tmp_path / 'model.keras'}: "
        f"the folder {tmp_path} is not writable"
    ]
    assert list(tmp_path.iterdir()) == []


def test_training_whose_loss_becomes_nan_exits_1_with_the_cause(tmp_path):
    result = run_cli(
        "train",
        "--recipe",
        "mlp",
        "--learning-rate",
        "1e12",
        "--train-size",
        "256",
        "--epochs",
        "1",
        cwd=tmp_path,
    )

    errors = error_lines(result.stderr)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(errors) == 1
    assert errors[0].startswith("error: ")
    assert "nan" in errors[0].lower()
    assert "learning rate" in errors[0]
    assert "Training complete." not in result.stdout


# --- a real short training and predictions with its model --------------------------


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    """Train on 2,000 digits for 1 epoch with --save; return the process and file.

    Batches of 32 give 63 steps, enough for the batch-normalisation moving
    statistics to settle; the default 128 gives 16 steps, after which they are
    still far from the data's and the test accuracy is near chance.
    """
    folder = tmp_path_factory.mktemp("cli_train")
    result = run_cli(
        "train",
        "--epochs",
        "1",
        "--train-size",
        "2000",
        "--batch-size",
        "32",
        "--save",
        "m.keras",
        cwd=folder,
    )
    return result, folder / "m.keras"


def test_short_training_ends_with_the_two_closing_lines(trained_model):
    result, _ = trained_model

    last_lines = result.stdout.splitlines()[-2:]

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert last_lines[0] == "Training complete."
    match = TEST_ACCURACY_LINE.match(last_lines[1])
    assert match, last_lines[1]
    assert float(match[1]) > 80.0


def test_short_training_saves_a_keras_archive(trained_model):
    result, model_path = trained_model

    files = sorted(path.name for path in model_path.parent.iterdir())

    assert result.returncode == 0, result.stderr
    assert files == ["m.keras"]
    assert zipfile.is_zipfile(model_path)


@pytest.fixture(scope="module")
def test_digit_files(trained_model):
    """Write the first five MNIST test digits as PNG files next to the model."""
    _, model_path = trained_model
    _, (x_test, y_test) = load_mnist()
    folder = model_path.parent / "digits"
    folder.mkdir()
    labels = {}
    for index in range(5):
        path = folder / f"digit_{index}.png"
        Image.fromarray(x_test[index]).save(path)
        labels[path.relative_to(model_path.parent).as_posix()] = int(y_test[index])
    return labels


def test_predict_prints_one_digit_and_probability_per_image(
    trained_model, test_digit_files
):
    _, model_path = trained_model

    result = run_cli(
        "predict",
        "--model",
        model_path.name,
        *test_digit_files,
        cwd=model_path.parent,
    )

    lines = result.stdout.splitlines()
    matches = [PREDICTION_LINE.match(line) for line in lines]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == len(test_digit_files)
    assert all(matches), lines
    assert [match["path"] for match in matches] == list(test_digit_files)
    assert all(0 < float(match["percent"]) <= 100 for match in matches)
    correct = sum(
        int(match["digit"]) == test_digit_files[match["path"]] for match in matches
    )
    assert correct >= 4, lines


def test_predict_reports_a_text_file_given_as_image_and_goes_on(
    in_process_cli, capsys, trained_model, test_digit_files
):
    _, model_path = trained_model
    good_image = model_path.parent / next(iter(test_digit_files))
    text_file = model_path.parent / "notes.txt"
    text_file.write_text("not a picture\n", encoding="utf-8")

    exit_code = in_process_cli(
        ["predict", "--model", str(model_path), str(text_file), str(good_image)]
    )

    captured = capsys.readouterr()
    errors = error_lines(captured.err)
    assert exit_code == 2
    assert len(errors) == 1
    assert errors[0].startswith("error: ")
    assert "notes.txt" in errors[0]
    assert "Traceback" not in captured.err
    assert [line.split(":")[0] for line in captured.out.splitlines()] == [
        str(good_image)
    ]


def test_predict_names_each_rejected_image_file_and_why(
    in_process_cli, capsys, trained_model, tmp_path
):
    _, model_path = trained_model
    missing = tmp_path / "missing.png"
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), color=255).save(blank)

    exit_code = in_process_cli(
        ["predict", "--model", str(model_path), str(missing), str(blank)]
    )

    captured = capsys.readouterr()
    errors = error_lines(captured.err)
    assert exit_code == 2
    assert len(errors) == 2
    assert errors[0].startswith("error: ") and str(missing) in errors[0]
    assert errors[1].startswith("error: ") and str(blank) in errors[1]
    assert "no digit can be found" in errors[1]
    assert "Image 0 of the batch" not in captured.err
    assert captured.out == ""


# --- Ctrl-C and resume ------------------------------------------------------------


def test_ctrl_c_keeps_a_complete_model_and_the_run_resumes(tmp_path):
    """Send SIGINT to a real training after its first checkpoint, then resume."""
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    environment.pop("MNIST_DATA_DIR", None)
    checkpoint_dir = tmp_path / "checkpoints"
    common = [
        "--epochs",
        "30",
        "--train-size",
        "1000",
        "--batch-size",
        "32",
        "--checkpoint-dir",
        str(checkpoint_dir),
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "mnist_helpers", "train", *common, "--save", "m.keras"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state_file = checkpoint_dir / "state.json"
    deadline = time.monotonic() + 240
    while not state_file.exists() and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)

    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "Training interrupted after" in stderr
    assert "Training complete." not in stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "checkpoints",
        "m.keras",
    ]
    assert sorted(path.name for path in checkpoint_dir.iterdir()) == [
        "last_epoch.keras",
        "state.json",
    ]
    assert zipfile.is_zipfile(tmp_path / "m.keras")

    resumed = run_cli("train", *common, "--resume", cwd=tmp_path)

    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[-2] == "Training complete."
    assert json.loads(state_file.read_text())["epochs_completed"] == 30
