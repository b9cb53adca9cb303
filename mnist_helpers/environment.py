"""Check that the Python environment can run the tutorial.

The notebook calls `check_environment()` in its set-up cell so a student sees
the versions in use, and gets a plain warning (not a cryptic failure later) when
Keras 2, the legacy `tf_keras` package, or an untested version is active.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import sys
from dataclasses import dataclass, field
from types import ModuleType

logger = logging.getLogger(__name__)

__all__ = [
    "SUPPORTED_VERSIONS",
    "EnvironmentReport",
    "check_environment",
    "import_tensorflow_quietly",
]

# Inclusive lower bound, exclusive upper bound, as (major, minor) pairs. The
# pinned versions in requirements.txt must fall inside (a test checks it).
SUPPORTED_VERSIONS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "python": ((3, 10), (3, 14)),
    "tensorflow": ((2, 16), (2, 22)),
    "keras": ((3, 0), (4, 0)),
    "numpy": ((1, 26), (3, 0)),
    "matplotlib": ((3, 8), (4, 0)),
}


@dataclass
class EnvironmentReport:
    """Versions and devices found, plus any warnings about them."""

    versions: dict[str, str]
    backend: str
    devices: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when no warning was raised."""
        return not self.warnings

    def __str__(self) -> str:
        lines = [f"{name:<11} {version}" for name, version in self.versions.items()]
        lines.append(f"{'backend':<11} {self.backend}")
        lines.append(f"{'devices':<11} {', '.join(self.devices) or 'none found'}")
        lines.extend(f"WARNING: {warning}" for warning in self.warnings)
        return "\n".join(lines)


def _major_minor(version: str) -> tuple[int, int]:
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(character for character in piece if character.isdigit())
        parts.append(int(digits or 0))
    while len(parts) < 2:
        parts.append(0)
    return parts[0], parts[1]


def _range_warning(name: str, version: str) -> str | None:
    low, high = SUPPORTED_VERSIONS[name]
    if low <= _major_minor(version) < high:
        return None
    return (
        f"{name} {version} is outside the tested range "
        f">={low[0]}.{low[1]},<{high[0]}.{high[1]}; install the pinned versions "
        "with `pip install -r requirements.txt` if something fails."
    )


def import_tensorflow_quietly() -> ModuleType:
    """Import TensorFlow and Keras without their C++ start-up messages.

    TensorFlow's native code prints lines such as "oneDNN custom operations are
    on" straight to the process's standard error while it loads, before its own
    `TF_CPP_MIN_LOG_LEVEL` setting takes effect, and a notebook shows them as red
    noise. This sets that variable, then hides the operating-system-level
    standard error only while the import runs. Python errors are not affected:
    a failed import still raises as usual.

    Returns:
        The `tensorflow` module.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return sys.modules["tensorflow"]

    sys.stderr.flush()
    saved_stderr = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras  # noqa: F401
            import tensorflow
    finally:
        sys.stderr.flush()
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
    return tensorflow


def check_environment() -> EnvironmentReport:
    """Collect versions, the Keras backend and the devices, and warn on problems.

    Warnings are also logged, so they show up even if the report is not printed.

    Returns:
        An `EnvironmentReport`; `print()` it for a readable table.
    """
    import keras
    import numpy
    import tensorflow as tf

    versions = {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
    }
    try:
        versions["matplotlib"] = importlib.metadata.version("matplotlib")
    except importlib.metadata.PackageNotFoundError:
        versions["matplotlib"] = "not installed"
    warnings = []

    for name, version in versions.items():
        if version == "not installed":
            warnings.append(
                f"{name} is not installed; run `pip install -r requirements.txt`."
            )
            continue
        warning = _range_warning(name, version)
        if warning:
            warnings.append(warning)

    if _major_minor(keras.__version__)[0] < 3:
        warnings.append(
            f"Keras {keras.__version__} is Keras 2; this tutorial needs Keras 3, "
            "so install the pinned versions with `pip install -r requirements.txt`."
        )
    if os.environ.get("TF_USE_LEGACY_KERAS", "").lower() in {"1", "true"}:
        warnings.append(
            "TF_USE_LEGACY_KERAS is set, so TensorFlow uses the legacy tf_keras "
            "package; unset it and restart the kernel to use Keras 3."
        )

    backend = keras.backend.backend()
    if backend != "tensorflow":
        warnings.append(
            f"Keras runs on the {backend!r} backend; set KERAS_BACKEND=tensorflow "
            "before starting Python, as the tutorial is tested on TensorFlow only."
        )

    devices = [
        f"{device.device_type}:{device.name.rsplit(':', 1)[-1]}"
        for device in tf.config.list_physical_devices()
    ]

    for warning in warnings:
        logger.warning(warning)
    return EnvironmentReport(
        versions=versions, backend=backend, devices=devices, warnings=warnings
    )
