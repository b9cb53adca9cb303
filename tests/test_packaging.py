"""Tests that requirements.txt, environment.yml, pyproject.toml and the venv agree.

requirements.txt is the one place where versions are pinned: these tests check
that the other files read it, and that what runs the tests is what is pinned.
"""

import importlib.metadata
import platform
import re
from pathlib import Path

import pytest

from mnist_helpers.data import MNIST_FILES, SHIPPED_DATA_DIR
from mnist_helpers.environment import SUPPORTED_VERSIONS

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;#]+)$")
RUNTIME_PACKAGES = {"tensorflow", "keras", "numpy", "matplotlib", "pillow"}


def read_pins(name: str) -> dict[str, str]:
    """Return {package: version} from a requirements file of name==version lines."""
    pins = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"{name}: {line!r} is not an exact name==version pin"
        pins[match["name"].lower()] = match["version"]
    return pins


def read_pyproject() -> dict:
    """Return pyproject.toml as a dict; skip the test on Python 3.10 (no tomllib)."""
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)


def environment_yml_entries() -> list[str]:
    """Return the `- item` entries of environment.yml, without the dash."""
    entries = []
    for line in (ROOT / "environment.yml").read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("- "):
            entries.append(stripped[2:].strip())
    return entries


def major_minor(version: str) -> tuple[int, int]:
    """Return (major, minor) of a version such as '2.21.0'."""
    major, minor = re.match(r"(\d+)\.(\d+)", version).groups()
    return int(major), int(minor)


ALL_PINS = {
    name: (file_name, version)
    for file_name in ("requirements.txt", "requirements-dev.txt")
    for name, version in read_pins(file_name).items()
}


def test_requirements_pin_the_runtime_packages_exactly():
    pins = read_pins("requirements.txt")

    names = set(pins)

    assert names == RUNTIME_PACKAGES


def test_dev_requirements_pin_the_notebook_and_test_tools():
    pins = read_pins("requirements-dev.txt")

    names = set(pins)

    assert {"pytest", "nbval", "ruff", "jupyterlab", "ipykernel"} <= names
    assert names.isdisjoint(RUNTIME_PACKAGES)


@pytest.mark.parametrize("package", sorted(ALL_PINS))
def test_installed_version_is_the_pinned_one(package):
    file_name, pinned = ALL_PINS[package]

    installed = importlib.metadata.version(package)

    assert installed == pinned, f"{package} {installed} installed, {file_name} pins"


@pytest.mark.parametrize("package", sorted(SUPPORTED_VERSIONS.keys() - {"python"}))
def test_pinned_runtime_version_lies_in_the_supported_range(package):
    pins = read_pins("requirements.txt")
    low, high = SUPPORTED_VERSIONS[package]

    pinned = major_minor(pins[package])

    assert low <= pinned < high


def test_environment_yml_python_lies_in_the_supported_range_and_is_the_one_tested():
    entries = environment_yml_entries()
    python_entries = [entry for entry in entries if entry.startswith("python=")]
    low, high = SUPPORTED_VERSIONS["python"]

    version = python_entries[0].removeprefix("python=")

    assert python_entries == ["python=3.11"]
    assert low <= major_minor(version) < high
    assert major_minor(platform.python_version()) == major_minor(version)


def test_environment_yml_installs_both_requirement_files_with_pip():
    entries = environment_yml_entries()

    pip_requirements = [entry for entry in entries if entry.startswith("-r ")]

    assert "pip" in entries
    assert pip_requirements == ["-r requirements.txt", "-r requirements-dev.txt"]
    assert "-e ." in entries


def test_environment_yml_pins_nothing_but_python():
    entries = environment_yml_entries()

    versioned = [entry for entry in entries if re.search(r"[=<>]", entry)]

    assert versioned == ["python=3.11"]


def test_pyproject_reads_its_dependencies_from_the_requirement_files():
    pyproject = read_pyproject()

    dynamic = pyproject["tool"]["setuptools"]["dynamic"]

    assert {"dependencies", "optional-dependencies"} <= set(
        pyproject["project"]["dynamic"]
    )
    assert "dependencies" not in pyproject["project"]
    assert dynamic["dependencies"] == {"file": ["requirements.txt"]}
    assert dynamic["optional-dependencies"]["dev"] == {"file": ["requirements-dev.txt"]}


def test_pyproject_python_range_matches_the_supported_range():
    requires_python = read_pyproject()["project"]["requires-python"]
    low, high = SUPPORTED_VERSIONS["python"]

    bounds = sorted(requires_python.replace(" ", "").split(","))

    assert bounds == sorted([f">={low[0]}.{low[1]}", f"<{high[0]}.{high[1]}"])


def test_pyproject_ships_the_idx_files_that_load_mnist_reads():
    patterns = read_pyproject()["tool"]["setuptools"]["package-data"]["mnist_helpers"]

    shipped = {
        path.relative_to(ROOT / "mnist_helpers")
        for pattern in patterns
        for path in (ROOT / "mnist_helpers").glob(pattern)
    }

    assert SHIPPED_DATA_DIR == ROOT / "mnist_helpers" / "mnist_idx"
    for file_name in MNIST_FILES.values():
        assert Path("mnist_idx", file_name) in shipped
        assert (SHIPPED_DATA_DIR / file_name).stat().st_size > 0


def test_every_package_data_pattern_matches_a_file():
    patterns = read_pyproject()["tool"]["setuptools"]["package-data"]["mnist_helpers"]

    unmatched = [
        pattern
        for pattern in patterns
        if not any((ROOT / "mnist_helpers").glob(pattern))
    ]

    assert unmatched == []


def test_pyproject_command_runs_the_cli_main():
    scripts = read_pyproject()["project"]["scripts"]

    target = scripts["mnist-helpers"]

    assert target == "mnist_helpers.cli:main"
