"""Load the MNIST digits as numpy arrays, offline first, with numpy and the stdlib.

`load_mnist` returns the same ``(x_train, y_train), (x_test, y_test)`` tuple as
``keras.datasets.mnist.load_data()``, reading the four IDX files from the first of
these places that has them:

1. ``data_dir``, or else the folder named by the ``MNIST_DATA_DIR`` environment
   variable. A folder named this way is used alone: if one of its files is missing or
   damaged, `load_mnist` raises instead of quietly loading other data.
2. The copy shipped with the package: `SHIPPED_DATA_DIR`, ``mnist_helpers/mnist_idx``.
3. The cache folder: ``cache_dir``, else ``MNIST_CACHE_DIR``, else
   ``$XDG_CACHE_HOME/mnist_helpers``, else ``~/.cache/mnist_helpers``. It may hold the
   four IDX files or the ``mnist.npz`` file that Keras downloads.
4. A download into the cache folder, only when ``download=True``: each IDX file from
   each mirror in turn (``mirrors``, else the comma-separated base URLs in
   ``MNIST_MIRRORS``, else `DEFAULT_MIRRORS`), then Keras' ``mnist.npz`` as a last
   resort.

Places 2 to 4 hold the same checksummed bytes, so a damaged file there is logged as a
warning and the next place is tried. Every failure raises
`mnist_helpers.errors.DatasetError` with a message that names the file and the fix.

Example:
    >>> from mnist_helpers.data import load_mnist
    >>> (x_train, y_train), (x_test, y_test) = load_mnist()
    >>> x_train.shape, x_train.dtype, y_test[:3]
    ((60000, 28, 28), dtype('uint8'), array([7, 2, 1], dtype=uint8))
"""

import gzip
import hashlib
import http.client
import logging
import math
import os
import struct
import urllib.error
import urllib.request
import uuid
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import ArrayLike

from mnist_helpers.errors import DatasetError

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
MnistArrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

SHIPPED_DATA_DIR: Path = Path(__file__).resolve().parent / "mnist_idx"

MNIST_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

# SHA-256 of the decompressed files: the same whichever mirror or gzip made the .gz.
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
    ),
    "train-labels-idx1-ubyte": (
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
    ),
    "t10k-images-idx3-ubyte": (
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
    ),
    "t10k-labels-idx1-ubyte": (
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
    ),
}

DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)

KERAS_NPZ_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
KERAS_NPZ_NAME = "mnist.npz"

DATA_DIR_ENV = "MNIST_DATA_DIR"
CACHE_DIR_ENV = "MNIST_CACHE_DIR"
MIRRORS_ENV = "MNIST_MIRRORS"

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10

_NPZ_KEYS = {
    "train_images": "x_train",
    "train_labels": "y_train",
    "test_images": "x_test",
    "test_labels": "y_test",
}
_IDX_UNSIGNED_BYTE = 0x08
_IDX_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "16-bit integer",
    0x0C: "32-bit integer",
    0x0D: "32-bit float",
    0x0E: "64-bit float",
}
_IDX_MAX_DIMENSIONS = 4
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK_SIZE = 1 << 20

_HINT_ANY_FILE = (
    "replace it with a good copy: delete it and load again to download it afresh, "
    "restore the shipped copy with `git checkout -- mnist_helpers/mnist_idx` (or "
    f"clone the project again), or set {DATA_DIR_ENV} to a folder of good files"
)
_HINT_SHIPPED = (
    "restore it with `git checkout -- mnist_helpers/mnist_idx` or by cloning the "
    f"project again, or set {DATA_DIR_ENV} to a folder of good files"
)
_HINT_CACHE = "delete it and load again to download it afresh"


class _DownloadError(Exception):
    """One source could not deliver one file; `reason` says why in a few words."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable


# --------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------


def read_idx(path: PathLike, *, expected_sha256: str | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes, gzip-compressed or not, into an array.

    Whether the file is gzip-compressed is decided by its first bytes, not its name.

    Args:
        path: The IDX file, e.g. ``train-images-idx3-ubyte.gz``.
        expected_sha256: If given, the SHA-256 (hex) that the decompressed bytes must
            have.

    Returns:
        A writable ``uint8`` array of the shape the file's header declares.

    Raises:
        DatasetError: The file is missing, empty, not gzip or IDX data, truncated, has
            trailing bytes, uses a data type other than unsigned byte, or does not
            match ``expected_sha256``.
    """
    path = Path(path)

    array, digest = _decode_idx_file(
        path, _HINT_ANY_FILE, want_digest=bool(expected_sha256)
    )

    if expected_sha256 and digest != expected_sha256.lower():
        raise DatasetError(
            f"{path} has SHA-256 {digest}, expected {expected_sha256.lower()}, so it "
            f"is damaged or is a different file; {_HINT_ANY_FILE}."
        )
    return array


def write_idx(path: PathLike, array: ArrayLike) -> Path:
    """Write an array of values 0..255 as an IDX file, gzip-compressed if named .gz.

    The file is written to a temporary file in the same folder and then renamed, so
    a reader never sees half a file. Gzip output carries no time stamp or file name,
    so the same array always gives the same bytes.

    Args:
        path: Where to write, e.g. ``my-images-idx3-ubyte.gz``. Its folder must exist.
        array: 1 to 4 dimensions of integers (or booleans) in 0..255.

    Returns:
        ``path``, as a `Path`.

    Raises:
        DatasetError: The array cannot be stored as unsigned bytes, or the file cannot
            be written.
    """
    path = Path(path)
    values = _as_unsigned_bytes(array, path)
    header = bytes([0, 0, _IDX_UNSIGNED_BYTE, values.ndim])
    header += struct.pack(f">{values.ndim}I", *values.shape)

    try:
        with _TemporaryBeside(path) as (temp_file, temp_path):
            if path.name.endswith(".gz"):
                # filename="" keeps the temporary name out of the gzip header.
                with gzip.GzipFile(
                    filename="", mode="wb", fileobj=temp_file, mtime=0, compresslevel=6
                ) as stream:
                    stream.write(header)
                    stream.write(values.data)
            else:
                temp_file.write(header)
                temp_file.write(values.data)
            temp_file.close()
            os.replace(temp_path, path)
    except OSError as error:
        raise DatasetError(
            f"Cannot write {path} ({error.strerror or error}); check that its folder "
            "exists and that you may write to it."
        ) from error
    return path


def _as_unsigned_bytes(array: ArrayLike, path: Path) -> np.ndarray:
    """Return ``array`` as a C-ordered uint8 array, or raise if it does not fit."""
    values = np.asarray(array)

    if values.dtype.kind not in "biu":
        raise DatasetError(
            f"Cannot write {path}: the array has dtype {values.dtype}, but IDX files "
            "here hold unsigned bytes; convert it first, e.g. with "
            "(array * 255).round().astype(np.uint8) for images scaled to [0, 1]."
        )
    if values.size and (int(values.min()) < 0 or int(values.max()) > 255):
        raise DatasetError(
            f"Cannot write {path}: the array holds values from {int(values.min())} to "
            f"{int(values.max())}, but unsigned bytes hold 0..255; clip or rescale it "
            "first, e.g. with np.clip(array, 0, 255).astype(np.uint8)."
        )
    if not 1 <= values.ndim <= _IDX_MAX_DIMENSIONS:
        raise DatasetError(
            f"Cannot write {path}: the array has {values.ndim} dimensions (shape "
            f"{values.shape}), but IDX files here hold 1 to {_IDX_MAX_DIMENSIONS}; "
            "reshape it first."
        )
    if max(values.shape) > 0xFFFFFFFF:
        raise DatasetError(
            f"Cannot write {path}: shape {values.shape} has a size above 2**32 - 1, "
            "which an IDX header cannot store; split the array into several files."
        )
    return np.ascontiguousarray(values, dtype=np.uint8)


def _decode_idx_file(
    path: Path, hint: str, *, want_digest: bool
) -> tuple[np.ndarray, str | None]:
    """Parse one IDX file; return its array and, if asked, its SHA-256 (hex)."""
    content = _read_decompressed(path, hint)

    shape, header_size = _parse_idx_header(content, path, hint)

    digest = hashlib.sha256(content).hexdigest() if want_digest else None
    count = math.prod(shape)
    array = np.frombuffer(content, dtype=np.uint8, count=count, offset=header_size)
    # frombuffer shares the read-only bytes; copy so callers may change pixels.
    return array.reshape(shape).copy(), digest


def _read_decompressed(path: Path, hint: str) -> bytes:
    """Return the file's bytes, gunzipped when they start with the gzip magic."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist; {hint}.") from None
    except OSError as error:
        raise DatasetError(
            f"{path} cannot be read ({error.strerror or error}); {hint}."
        ) from error

    if not raw:
        raise DatasetError(f"{path} is empty (0 bytes); {hint}.")
    if not raw.startswith(_GZIP_MAGIC):
        return raw

    try:
        content = gzip.decompress(raw)
    except EOFError:
        raise DatasetError(
            f"{path} is a truncated gzip file (its compressed data ends early, as "
            f"after an interrupted download); {hint}."
        ) from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise DatasetError(f"{path} is corrupt gzip data ({error}); {hint}.") from error
    except OSError as error:
        raise DatasetError(
            f"{path} cannot be decompressed ({error}); {hint}."
        ) from error
    if not content:
        raise DatasetError(f"{path} is a gzip file that holds no data; {hint}.")
    return content


def _parse_idx_header(
    content: bytes, path: Path, hint: str
) -> tuple[tuple[int, ...], int]:
    """Check an IDX header against the data length; return (shape, header size)."""
    if len(content) < 4:
        raise DatasetError(
            f"{path} is too short to be an IDX file ({len(content)} bytes, the magic "
            f"number alone needs 4); {hint}."
        )
    magic = int.from_bytes(content[:4], "big")
    expected = "expected 0x00000803 (images) or 0x00000801 (labels)"
    first, second, type_code, dimensions = content[:4]

    if first or second:
        raise DatasetError(
            f"{path} has magic number 0x{magic:08X}, {expected}, so it is not an IDX "
            f"file (perhaps an HTML error page, an image or text); {hint}."
        )
    if type_code != _IDX_UNSIGNED_BYTE:
        type_name = _IDX_TYPE_NAMES.get(type_code, "not an IDX data type")
        raise DatasetError(
            f"{path} has magic number 0x{magic:08X}, {expected}: its data type byte "
            f"0x{type_code:02X} ({type_name}) is not supported, only 0x08 (unsigned "
            f"byte) is; {hint}."
        )
    if not 1 <= dimensions <= _IDX_MAX_DIMENSIONS:
        raise DatasetError(
            f"{path} has magic number 0x{magic:08X}, {expected}: it declares "
            f"{dimensions} dimensions, but 1 to {_IDX_MAX_DIMENSIONS} are supported; "
            f"{hint}."
        )

    header_size = 4 + 4 * dimensions
    if len(content) < header_size:
        raise DatasetError(
            f"{path} is truncated inside its header ({len(content)} bytes, but the "
            f"header of a {dimensions}-dimensional IDX file needs {header_size}); "
            f"{hint}."
        )
    shape = struct.unpack(f">{dimensions}I", content[4:header_size])

    declared = math.prod(shape)
    present = len(content) - header_size
    shape_text = "x".join(str(size) for size in shape)
    if present < declared:
        raise DatasetError(
            f"{path} is truncated: its header declares {shape_text} = {declared:,} "
            f"data bytes but only {present:,} follow; {hint}."
        )
    if present > declared:
        raise DatasetError(
            f"{path} has {present - declared:,} trailing bytes after the {declared:,} "
            f"data bytes its header declares ({shape_text}); {hint}."
        )
    return shape, header_size


# --------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------


def load_mnist(
    data_dir: PathLike | None = None,
    *,
    verify_checksums: bool = True,
    cache_dir: PathLike | None = None,
    mirrors: Sequence[str] | None = None,
    download: bool = True,
    timeout: float = 30.0,
    keras_npz_url: str | None = KERAS_NPZ_URL,
) -> MnistArrays:
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)`` uint8 arrays.

    The return value matches ``keras.datasets.mnist.load_data()``: images of shape
    ``(count, 28, 28)`` with values 0..255 and labels of shape ``(count,)``.

    Lookup order (the first place that has the data wins):

    1. ``data_dir``, else the ``MNIST_DATA_DIR`` environment variable. That folder
       must hold the four files (``train-images-idx3-ubyte.gz`` and so on, with or
       without ``.gz``) and is used alone: a missing or damaged file raises, with no
       fallback to other data.
    2. `SHIPPED_DATA_DIR`, the copy shipped in ``mnist_helpers/mnist_idx``.
    3. The cache folder (see ``cache_dir``): its four IDX files, or a Keras
       ``mnist.npz``.
    4. If ``download`` is true, a download into the cache folder (see
       `download_mnist`).

    Damaged files in places 2 and 3 are logged as warnings and skipped. The place
    used is logged at INFO level.

    Args:
        data_dir: A folder holding the four IDX files. Overrides ``MNIST_DATA_DIR``.
        verify_checksums: Check each file's SHA-256 against `MNIST_SHA256` (or the
            npz against `KERAS_NPZ_SHA256`), that images are 28x28 and labels 0..9.
            Pass False to load another dataset in the MNIST layout, such as
            Fashion-MNIST or KMNIST, from ``data_dir``: then any image size works
            as long as each image file has as many images as its label file has
            labels.
        cache_dir: Where downloads go and are looked for. Default: the
            ``MNIST_CACHE_DIR`` environment variable, else
            ``$XDG_CACHE_HOME/mnist_helpers``, else ``~/.cache/mnist_helpers``.
        mirrors: Base URLs to download the IDX files from, tried in order. Default:
            the comma-separated ``MNIST_MIRRORS`` environment variable, else
            `DEFAULT_MIRRORS`.
        download: Whether to download when no local copy is found.
        timeout: Seconds to wait on each network connection or read.
        keras_npz_url: Where to get Keras' ``mnist.npz`` when every mirror fails;
            None skips this last resort.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.

    Raises:
        DatasetError: The named folder lacks a file, a file is damaged or (with
            ``verify_checksums``) is not MNIST, image and label counts differ, or no
            copy was found and none could be downloaded.
    """
    named = _named_data_dir(data_dir)
    if named is not None:
        folder, source = named
        paths = _named_folder_files(folder, source)
        hint = (
            f"replace the file in {folder} with a good copy, or point {source} at "
            "another folder"
        )
        arrays = _load_idx_files(paths, verify_checksums=verify_checksums, hint=hint)
        logger.info("Loaded MNIST from %s (named by %s).", folder, source)
        return _as_keras_tuples(arrays)

    problems: list[str] = []
    arrays = _try_default_sources(cache_dir, verify_checksums, problems)
    if arrays is not None:
        return _as_keras_tuples(arrays)

    cache = _resolve_cache_dir(cache_dir)
    if not download:
        found = f" ({'; '.join(problems)})" if problems else ""
        raise DatasetError(
            f"MNIST is neither in {SHIPPED_DATA_DIR} nor in the cache folder "
            f"{cache}{found} and download=False; pass download=True to download it "
            f"into the cache, or pass data_dir (or set {DATA_DIR_ENV}) to a folder "
            "that holds the four files."
        )

    download_mnist(cache, mirrors=mirrors, timeout=timeout, keras_npz_url=keras_npz_url)
    arrays = _try_cache(cache, verify_checksums, problems)
    if arrays is None:
        raise DatasetError(
            f"MNIST was downloaded into {cache} but cannot be loaded from there "
            f"({'; '.join(problems)}); delete that folder and load again."
        )
    return _as_keras_tuples(arrays)


def locate_mnist(
    data_dir: PathLike | None = None, *, cache_dir: PathLike | None = None
) -> Path | None:
    """Return where `load_mnist` would read MNIST from, without reading it.

    Only the presence of files is checked: a file found here may still turn out to
    be damaged when `load_mnist` reads it.

    Args:
        data_dir: As for `load_mnist`.
        cache_dir: As for `load_mnist`.

    Returns:
        The folder holding the four IDX files, or the path of a cached
        ``mnist.npz``, or None when `load_mnist` would have to download.

    Raises:
        DatasetError: ``data_dir`` or ``MNIST_DATA_DIR`` names a folder that lacks
            one of the four files.
    """
    named = _named_data_dir(data_dir)
    if named is not None:
        folder, source = named
        _named_folder_files(folder, source)
        return folder

    cache = _resolve_cache_dir(cache_dir)
    for folder in (SHIPPED_DATA_DIR, cache):
        _found, missing = _find_idx_files(folder)
        if not missing:
            return folder
    npz_path = cache / KERAS_NPZ_NAME
    return npz_path if npz_path.is_file() else None


def _named_data_dir(data_dir: PathLike | None) -> tuple[Path, str] | None:
    """Return the folder the user named, and how they named it, if they did."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "data_dir"
    from_environment = os.environ.get(DATA_DIR_ENV, "").strip()
    if from_environment:
        return Path(from_environment).expanduser(), DATA_DIR_ENV
    return None


def _named_folder_files(folder: Path, source: str) -> dict[str, Path]:
    """Return the four files of a user-named folder, or raise saying which lack."""
    undo = f"unset {DATA_DIR_ENV}" if source == DATA_DIR_ENV else "leave data_dir out"
    if not folder.is_dir():
        raise DatasetError(
            f"{source} names {folder}, which is not a folder; create it with the four "
            f"MNIST IDX files, or {undo} to use the shipped copy."
        )

    found, missing = _find_idx_files(folder)
    if missing:
        raise DatasetError(
            f"{folder} (named by {source}) lacks {', '.join(missing)} (with or "
            f"without .gz); put the four MNIST IDX files there, or {undo} to use the "
            "shipped copy."
        )
    return found


def _find_idx_files(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Map each key of `MNIST_FILES` to its file in ``folder``; list missing names."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, gz_name in MNIST_FILES.items():
        for candidate in (folder / gz_name, folder / gz_name.removesuffix(".gz")):
            if _is_file(candidate):
                found[key] = candidate
                break
        else:
            missing.append(gz_name)
    return found, missing


def _is_file(path: Path) -> bool:
    """Return True if ``path`` is a file; raise a DatasetError if it can't be seen."""
    try:
        return path.is_file()
    except OSError as error:
        raise DatasetError(
            f"Cannot look for MNIST files in {path.parent} "
            f"({error.strerror or error}); give yourself read access to that "
            "folder or choose another one."
        ) from error


def _try_default_sources(
    cache_dir: PathLike | None, verify_checksums: bool, problems: list[str]
) -> dict[str, np.ndarray] | None:
    """Load from the shipped copy or the cache; note damaged files in ``problems``."""
    found, missing = _find_idx_files(SHIPPED_DATA_DIR)
    if missing:
        logger.debug("The shipped copy %s lacks %s.", SHIPPED_DATA_DIR, missing)
    else:
        try:
            arrays = _load_idx_files(
                found, verify_checksums=verify_checksums, hint=_HINT_SHIPPED
            )
        except DatasetError as error:
            logger.warning("Skipping the shipped copy of MNIST: %s", error)
            problems.append(f"shipped copy: {error}")
        else:
            logger.info("Loaded MNIST from the shipped copy in %s.", SHIPPED_DATA_DIR)
            return arrays

    return _try_cache(_resolve_cache_dir(cache_dir), verify_checksums, problems)


def _try_cache(
    cache: Path, verify_checksums: bool, problems: list[str]
) -> dict[str, np.ndarray] | None:
    """Load the cached IDX files or npz, if present and sound; else return None."""
    found, missing = _find_idx_files(cache)
    if not missing:
        try:
            arrays = _load_idx_files(
                found, verify_checksums=verify_checksums, hint=_HINT_CACHE
            )
        except DatasetError as error:
            logger.warning("Skipping the cached MNIST files: %s", error)
            problems.append(f"cache: {error}")
        else:
            logger.info("Loaded MNIST from the cache folder %s.", cache)
            return arrays

    npz_path = cache / KERAS_NPZ_NAME
    if npz_path.is_file():
        try:
            arrays = _load_keras_npz(
                npz_path, verify_checksums=verify_checksums, hint=_HINT_CACHE
            )
        except DatasetError as error:
            logger.warning("Skipping the cached %s: %s", KERAS_NPZ_NAME, error)
            problems.append(f"cache: {error}")
        else:
            logger.info("Loaded MNIST from %s (Keras' npz, cached).", npz_path)
            return arrays
    return None


def _load_idx_files(
    paths: dict[str, Path], *, verify_checksums: bool, hint: str
) -> dict[str, np.ndarray]:
    """Read the four IDX files and check them; keys as in `MNIST_FILES`."""
    arrays: dict[str, np.ndarray] = {}
    for key, path in paths.items():
        arrays[key], digest = _decode_idx_file(path, hint, want_digest=verify_checksums)
        expected = MNIST_SHA256[MNIST_FILES[key].removesuffix(".gz")]
        if verify_checksums and digest != expected:
            raise DatasetError(
                f"{path} has SHA-256 {digest}, not the {expected} of MNIST's "
                f"{MNIST_FILES[key]}; if this folder holds another dataset in the "
                "MNIST layout (Fashion-MNIST, KMNIST) pass verify_checksums=False, "
                f"else {hint}."
            )

    names = {key: str(path) for key, path in paths.items()}
    _check_arrays(arrays, names, strict=verify_checksums, hint=hint)
    return arrays


def _load_keras_npz(
    path: Path, *, verify_checksums: bool, hint: str
) -> dict[str, np.ndarray]:
    """Read Keras' mnist.npz (no pickles) and check it; keys as in `MNIST_FILES`."""
    if verify_checksums:
        digest = _sha256_of_file(path)
        if digest != KERAS_NPZ_SHA256:
            raise DatasetError(
                f"{path} has SHA-256 {digest}, expected {KERAS_NPZ_SHA256}, so it is "
                f"damaged or is not Keras' mnist.npz; {hint}."
            )

    arrays: dict[str, np.ndarray] = {}
    try:
        with open(path, "rb") as npz_file:
            archive = np.load(npz_file, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DatasetError(
                    f"{path} holds a single array, not an .npz archive of x_train, "
                    f"y_train, x_test and y_test; {hint}."
                )
            with archive:
                absent = [name for name in _NPZ_KEYS.values() if name not in archive]
                if absent:
                    raise DatasetError(
                        f"{path} lacks the array {', '.join(absent)}; Keras' "
                        f"mnist.npz holds x_train, y_train, x_test and y_test; {hint}."
                    )
                for key, npz_key in _NPZ_KEYS.items():
                    arrays[key] = archive[npz_key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DatasetError(
            f"{path} is not a readable .npz file ({error}); {hint}."
        ) from error

    for key, array in arrays.items():
        if array.dtype != np.uint8:
            raise DatasetError(
                f"{path} holds {_NPZ_KEYS[key]} of dtype {array.dtype}, expected "
                f"uint8; {hint}."
            )
    names = {key: f"{path}[{npz_key}]" for key, npz_key in _NPZ_KEYS.items()}
    _check_arrays(arrays, names, strict=verify_checksums, hint=hint)
    return arrays


def _check_arrays(
    arrays: dict[str, np.ndarray], names: dict[str, str], *, strict: bool, hint: str
) -> None:
    """Check ranks and counts; with ``strict``, also 28x28 images and labels 0..9."""
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        images_name, labels_name = names[f"{split}_images"], names[f"{split}_labels"]

        if images.ndim != 3:
            raise DatasetError(
                f"{images_name} holds an array of shape {images.shape}, expected "
                f"(count, height, width) images; {hint}."
            )
        if labels.ndim != 1:
            raise DatasetError(
                f"{labels_name} holds an array of shape {labels.shape}, expected "
                f"(count,) labels; {hint}."
            )
        if len(images) != len(labels):
            raise DatasetError(
                f"{images_name} holds {len(images)} images but {labels_name} holds "
                f"{len(labels)} labels, so they do not belong together; {hint}."
            )
        if not strict:
            continue

        if images.shape[1:] != IMAGE_SHAPE:
            raise DatasetError(
                f"{images_name} holds {images.shape[1]}x{images.shape[2]} images, but "
                "MNIST's are 28x28; pass verify_checksums=False to load another "
                f"dataset, else {hint}."
            )
        if labels.size and int(labels.max()) >= NUM_CLASSES:
            raise DatasetError(
                f"{labels_name} holds the label {int(labels.max())}, but MNIST's are "
                f"0..9; pass verify_checksums=False to load another dataset, else "
                f"{hint}."
            )


def _as_keras_tuples(arrays: dict[str, np.ndarray]) -> MnistArrays:
    """Arrange the four arrays as ``keras.datasets.mnist.load_data()`` does."""
    return (
        (arrays["train_images"], arrays["train_labels"]),
        (arrays["test_images"], arrays["test_labels"]),
    )


# --------------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------------


def download_mnist(
    cache_dir: PathLike | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = 30.0,
    keras_npz_url: str | None = KERAS_NPZ_URL,
) -> Path:
    """Download the four MNIST IDX files into the cache folder and return it.

    Each file is tried from each mirror in turn, streamed into a temporary file in
    the cache folder, decompressed and checked against `MNIST_SHA256`, and only then
    renamed to its final name; a failed download leaves no file behind. Files
    already cached with the right checksum are kept. If some file comes from no
    mirror, Keras' ``mnist.npz`` is downloaded instead (checked against
    `KERAS_NPZ_SHA256`) and saved as ``mnist.npz`` in the cache folder. TLS
    certificates are verified as Python does by default; the proxy environment
    variables (``https_proxy`` and so on) are honoured.

    Args:
        cache_dir: The folder to download into, created if missing. Default: the
            ``MNIST_CACHE_DIR`` environment variable, else
            ``$XDG_CACHE_HOME/mnist_helpers``, else ``~/.cache/mnist_helpers``.
        mirrors: Base URLs that serve the four ``.gz`` files under their usual
            names, tried in order. Default: the comma-separated ``MNIST_MIRRORS``
            environment variable, else `DEFAULT_MIRRORS`. A mirror that cannot be
            reached is not asked for the remaining files.
        timeout: Seconds to wait on each connection or read.
        keras_npz_url: Where to get Keras' ``mnist.npz`` as the last resort; None
            skips it.

    Returns:
        The cache folder.

    Raises:
        DatasetError: The cache folder cannot be created or written, or no source
            delivered the data; the message says how to get the files by hand.
    """
    folder = _prepare_cache_dir(_resolve_cache_dir(cache_dir))
    mirror_urls = _resolve_mirrors(mirrors)
    failures: dict[str, str] = {}
    unreachable: set[str] = set()

    missing: list[str] = []
    for gz_name in MNIST_FILES.values():
        delivered = _download_idx_file(
            gz_name,
            folder,
            mirror_urls=mirror_urls,
            timeout=timeout,
            failures=failures,
            unreachable=unreachable,
        )
        if not delivered:
            missing.append(gz_name)
    if not missing:
        logger.info("MNIST's four IDX files are in %s.", folder)
        return folder

    npz_path = folder / KERAS_NPZ_NAME
    if _npz_is_good(npz_path):
        logger.info("Using the cached %s for MNIST.", npz_path)
        return folder
    if keras_npz_url:
        logger.warning(
            "No mirror delivered %s; trying Keras' %s.",
            ", ".join(missing),
            KERAS_NPZ_NAME,
        )
        try:
            _download(keras_npz_url, npz_path, timeout, _check_npz_download)
        except _DownloadError as failure:
            logger.warning("Could not download %s: %s.", keras_npz_url, failure.reason)
            failures[keras_npz_url] = failure.reason
        else:
            logger.info("Downloaded %s into %s.", keras_npz_url, npz_path)
            return folder

    raise DatasetError(_download_failure_message(folder, failures))


def _download_idx_file(
    gz_name: str,
    folder: Path,
    *,
    mirror_urls: Sequence[str],
    timeout: float,
    failures: dict[str, str],
    unreachable: set[str],
) -> bool:
    """Make sure ``folder`` holds a checked ``gz_name``; return whether it does."""
    expected = MNIST_SHA256[gz_name.removesuffix(".gz")]
    for cached in (folder / gz_name, folder / gz_name.removesuffix(".gz")):
        if cached.is_file() and _idx_file_digest(cached) == expected:
            logger.debug("Keeping the cached %s.", cached)
            return True

    def check(temp_path: Path) -> None:
        digest = _idx_file_digest(temp_path, raise_on_error=True)
        if digest != expected:
            raise _DownloadError(
                f"{gz_name} decompresses to data with SHA-256 {digest[:12]}..., "
                f"expected {expected[:12]}..."
            )

    for mirror in mirror_urls:
        if mirror in unreachable:
            continue
        url = f"{mirror.rstrip('/')}/{gz_name}"
        try:
            _download(url, folder / gz_name, timeout, check)
        except _DownloadError as failure:
            logger.warning("Could not download %s: %s.", url, failure.reason)
            failures.setdefault(mirror, failure.reason)
            if failure.unreachable:
                unreachable.add(mirror)
        else:
            logger.info("Downloaded %s.", url)
            return True
    return False


def _download(
    url: str, destination: Path, timeout: float, check: Callable[[Path], None]
) -> None:
    """Stream ``url`` to a temporary file, ``check`` it, then move it into place."""
    try:
        with _TemporaryBeside(destination) as (temp_file, temp_path):
            _stream_url(url, temp_file, timeout)
            temp_file.close()
            check(temp_path)
            os.replace(temp_path, destination)
    except DatasetError:
        raise
    except OSError as error:
        # Only local file trouble gets here: network errors became _DownloadError.
        raise DatasetError(
            f"Cannot write into the cache folder {destination.parent} "
            f"({error.strerror or error}); set {CACHE_DIR_ENV} or pass cache_dir to "
            "a folder you can write to."
        ) from error


def _stream_url(url: str, out: BinaryIO, timeout: float) -> None:
    """Copy the body of ``url`` into ``out``; raise `_DownloadError` on failure.

    Errors while writing ``out`` are not network failures and propagate unchanged.
    """
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (OSError, ValueError, http.client.HTTPException) as error:
        raise _network_failure(error, timeout) from error

    with response:
        while True:
            try:
                chunk = response.read(_CHUNK_SIZE)
            except (OSError, http.client.HTTPException) as error:
                raise _network_failure(error, timeout) from error
            if not chunk:
                return
            out.write(chunk)


def _network_failure(error: Exception, timeout: float) -> _DownloadError:
    """Turn an error from urllib into a `_DownloadError` with a short reason."""
    if isinstance(error, urllib.error.HTTPError):
        error.close()
        return _DownloadError(f"HTTP {error.code} {error.reason}")
    if isinstance(error, urllib.error.URLError):
        reason = _describe_network_error(error.reason, timeout)
        return _DownloadError(reason, unreachable=True)
    if isinstance(error, TimeoutError):
        reason = _describe_network_error(error, timeout)
        return _DownloadError(reason, unreachable=True)
    if isinstance(error, ValueError):
        return _DownloadError(f"invalid URL ({error})", unreachable=True)
    return _DownloadError(f"broken response ({type(error).__name__}: {error})")


def _describe_network_error(reason: object, timeout: float) -> str:
    """Say in a few words why a connection failed."""
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason)


def _check_npz_download(temp_path: Path) -> None:
    """Raise `_DownloadError` unless ``temp_path`` is a sound Keras mnist.npz."""
    digest = _sha256_of_file(temp_path)
    if digest != KERAS_NPZ_SHA256:
        raise _DownloadError(
            f"SHA-256 {digest[:12]}..., expected {KERAS_NPZ_SHA256[:12]}..."
        )
    try:
        _load_keras_npz(temp_path, verify_checksums=False, hint="download it again")
    except DatasetError as error:
        raise _DownloadError(str(error)) from error


def _npz_is_good(path: Path) -> bool:
    """Return whether ``path`` is a cached npz with Keras' checksum."""
    return path.is_file() and _sha256_of_file(path) == KERAS_NPZ_SHA256


def _download_failure_message(folder: Path, failures: dict[str, str]) -> str:
    """Say what was tried and how to get the files by hand."""
    if failures:
        tried = "; ".join(f"{source}: {reason}" for source, reason in failures.items())
    else:
        tried = "no mirror and no npz URL were given"
    names = ", ".join(MNIST_FILES.values())
    return (
        f"Could not download MNIST into {folder} (tried {tried}); download {names} "
        f"by hand from {' or '.join(DEFAULT_MIRRORS)} and put them in {folder}, or "
        f"in any folder you then pass as data_dir or set as {DATA_DIR_ENV} (or save "
        f"{KERAS_NPZ_URL} as {folder / KERAS_NPZ_NAME})."
    )


def _resolve_cache_dir(cache_dir: PathLike | None) -> Path:
    """Return the cache folder from the argument, the environment or the default."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from_environment = os.environ.get(CACHE_DIR_ENV, "").strip()
    if from_environment:
        return Path(from_environment).expanduser()
    xdg_cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg_cache and Path(xdg_cache).is_absolute():
        return Path(xdg_cache) / "mnist_helpers"
    return Path.home() / ".cache" / "mnist_helpers"


def _resolve_mirrors(mirrors: Sequence[str] | None) -> tuple[str, ...]:
    """Return the mirrors from the argument, ``MNIST_MIRRORS`` or the defaults."""
    if isinstance(mirrors, str):
        return (mirrors,)
    if mirrors is not None:
        return tuple(mirrors)
    from_environment = os.environ.get(MIRRORS_ENV, "")
    listed = tuple(url.strip() for url in from_environment.split(",") if url.strip())
    return listed or DEFAULT_MIRRORS


def _prepare_cache_dir(folder: Path) -> Path:
    """Create ``folder`` if needed and check that files can be written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{uuid.uuid4().hex}"
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as error:
        raise DatasetError(
            f"Cannot use {folder} as the MNIST cache folder "
            f"({error.strerror or error}); set {CACHE_DIR_ENV} or pass cache_dir "
            "to a folder you can write to."
        ) from error
    return folder


# --------------------------------------------------------------------------------
# File helpers
# --------------------------------------------------------------------------------


class _TemporaryBeside:
    """Open a new temporary file next to ``destination``; delete it on exit.

    Used as ``with _TemporaryBeside(path) as (file, temp_path):``; the caller renames
    ``temp_path`` into place when the content is complete, and whatever is left is
    removed on the way out, even after an error. Unlike `tempfile.mkstemp`, the file
    gets the usual permissions (0666 less the umask).
    """

    def __init__(self, destination: Path) -> None:
        self.path = destination.with_name(
            f".{destination.name}.{uuid.uuid4().hex[:12]}.part"
        )
        self.file: BinaryIO | None = None

    def __enter__(self) -> tuple[BinaryIO, Path]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        descriptor = os.open(self.path, flags, 0o666)
        self.file = os.fdopen(descriptor, "wb")
        return self.file, self.path

    def __exit__(self, *exc_info: object) -> None:
        if self.file is not None:
            self.file.close()
        self.path.unlink(missing_ok=True)


def _idx_file_digest(path: Path, *, raise_on_error: bool = False) -> str:
    """Return the SHA-256 of a file's decompressed bytes, reading it in chunks.

    Unreadable or corrupt files give an empty string, or raise `_DownloadError`
    when ``raise_on_error`` is set.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as raw_file:
            compressed = raw_file.read(2) == _GZIP_MAGIC
            raw_file.seek(0)
            stream: BinaryIO = (
                gzip.GzipFile(fileobj=raw_file) if compressed else raw_file
            )
            while chunk := stream.read(_CHUNK_SIZE):
                digest.update(chunk)
    except EOFError:
        if raise_on_error:
            raise _DownloadError("truncated gzip data") from None
        return ""
    except (gzip.BadGzipFile, zlib.error) as error:
        if raise_on_error:
            raise _DownloadError(f"corrupt gzip data ({error})") from error
        return ""
    except OSError:
        if raise_on_error:
            raise
        return ""
    return digest.hexdigest()


def _sha256_of_file(path: Path) -> str:
    """Return the SHA-256 (hex) of a file's bytes, reading it in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as raw_file:
        while chunk := raw_file.read(_CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()
