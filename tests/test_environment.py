"""Tests for mnist_helpers.environment: the versions report and its warnings."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import logging
import platform

import keras
import numpy
import pytest
import tensorflow as tf

from mnist_helpers import environment
from mnist_helpers.environment import EnvironmentReport, check_environment

PACKAGES = ("python", "tensorflow", "keras", "numpy", "matplotlib")


@pytest.fixture(autouse=True)
def modern_keras(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a TF_USE_LEGACY_KERAS set in the shell out of the tests."""
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)


def test_report_lists_the_installed_versions_of_the_five_packages():
    report = check_environment()

    versions = report.versions

    assert tuple(versions) == PACKAGES
    assert versions["python"] == platform.python_version()
    assert versions["tensorflow"] == tf.__version__
    assert versions["keras"] == keras.__version__
    assert versions["numpy"] == numpy.__version__
    assert versions["matplotlib"][0].isdigit()


def test_report_names_the_tensorflow_backend_and_a_cpu():
    report = check_environment()

    cpu_devices = [device for device in report.devices if device.startswith("CPU:")]

    assert report.backend == "tensorflow"
    assert cpu_devices


def test_the_pinned_environment_raises_no_warning(caplog):
    with caplog.at_level(logging.WARNING, logger=environment.__name__):
        report = check_environment()

    assert report.warnings == []
    assert report.ok is True
    assert caplog.records == []


def test_printed_report_shows_every_package_the_backend_and_the_devices():
    report = check_environment()

    text = str(report)

    for name in PACKAGES:
        assert f"{name} " in text
        assert report.versions[name] in text
    assert "backend" in text
    assert "tensorflow" in text
    assert "devices" in text
    assert "CPU:0" in text
    assert "WARNING" not in text


def test_legacy_keras_switch_gives_a_warning_about_tf_keras(monkeypatch, caplog):
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1")

    with caplog.at_level(logging.WARNING, logger=environment.__name__):
        report = check_environment()

    assert report.ok is False
    assert len(report.warnings) == 1
    assert "tf_keras" in report.warnings[0]
    assert "unset it" in report.warnings[0]
    assert "WARNING: TF_USE_LEGACY_KERAS" in str(report)
    assert [record.getMessage() for record in caplog.records] == report.warnings


@pytest.mark.parametrize("value", ["0", "", "false"])
def test_legacy_keras_switch_turned_off_gives_no_warning(monkeypatch, value):
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", value)

    report = check_environment()

    assert report.warnings == []


def test_keras_2_gives_a_warning_that_asks_for_keras_3(monkeypatch):
    monkeypatch.setattr(keras, "__version__", "2.15.0")

    report = check_environment()

    keras_2_warnings = [w for w in report.warnings if "is Keras 2" in w]
    assert report.ok is False
    assert len(keras_2_warnings) == 1
    assert "needs Keras 3" in keras_2_warnings[0]
    assert "pip install -r requirements.txt" in keras_2_warnings[0]


def test_other_keras_backend_gives_a_warning_naming_the_fix(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")

    report = check_environment()

    assert report.backend == "jax"
    assert report.warnings == [
        "Keras runs on the 'jax' backend; set KERAS_BACKEND=tensorflow before "
        "starting Python, as the tutorial is tested on TensorFlow only."
    ]


def test_untested_tensorflow_version_gives_a_warning_with_the_fix(monkeypatch):
    monkeypatch.setitem(environment.SUPPORTED_VERSIONS, "tensorflow", ((2, 0), (2, 1)))

    report = check_environment()

    assert len(report.warnings) == 1
    warning = report.warnings[0]
    assert f"tensorflow {tf.__version__}" in warning
    assert ">=2.0,<2.1" in warning
    assert "pip install -r requirements.txt" in warning


def test_version_at_the_upper_bound_is_outside_the_range(monkeypatch):
    major, minor = (int(part) for part in numpy.__version__.split(".")[:2])
    monkeypatch.setitem(
        environment.SUPPORTED_VERSIONS, "numpy", ((1, 0), (major, minor))
    )

    report = check_environment()

    assert [warning.split()[0] for warning in report.warnings] == ["numpy"]


def test_report_with_no_devices_says_none_found():
    report = EnvironmentReport(
        versions={"python": "3.11.7"}, backend="tensorflow", devices=[]
    )

    text = str(report)

    assert "none found" in text
    assert report.ok is True
