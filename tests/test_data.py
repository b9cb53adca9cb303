"""Tests of mnist_helpers.data: IDX files, the lookup order, and offline downloads.

Every download test talks to an HTTP server on 127.0.0.1 that the test starts; no
test touches the internet.
"""

import gzip
import hashlib
import io
import logging
import os
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from mnist_helpers import data
from mnist_helpers.errors import DatasetError

SERVER_TIMEOUT = 2.0
TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep the user's MNIST settings, cache and proxies out of every test."""
    for name in (data.DATA_DIR_ENV, data.CACHE_DIR_ENV, data.MIRRORS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


# --------------------------------------------------------------------------------
# Small data made by the tests
# --------------------------------------------------------------------------------


def make_fake_mnist(
    train_count: int = 12, test_count: int = 5, height: int = 28, width: int = 28
) -> dict[str, np.ndarray]:
    """Return random images and labels 0..9, keyed like `data.MNIST_FILES`."""
    generator = np.random.default_rng(0)
    return {
        "train_images": generator.integers(
            0, 256, (train_count, height, width), dtype=np.uint8
        ),
        "train_labels": generator.integers(0, 10, train_count, dtype=np.uint8),
        "test_images": generator.integers(
            0, 256, (test_count, height, width), dtype=np.uint8
        ),
        "test_labels": generator.integers(0, 10, test_count, dtype=np.uint8),
    }


def write_fake_mnist(
    folder: Path, arrays: dict[str, np.ndarray], *, compressed: bool = True
) -> Path:
    """Write ``arrays`` into ``folder`` under MNIST's file names; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, gz_name in data.MNIST_FILES.items():
        name = gz_name if compressed else gz_name.removesuffix(".gz")
        data.write_idx(folder / name, arrays[key])
    return folder


def use_fake_checksums(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make `data.MNIST_SHA256` expect the fake files written into ``folder``."""
    for gz_name in data.MNIST_FILES.values():
        content = gzip.decompress((folder / gz_name).read_bytes())
        digest = hashlib.sha256(content).hexdigest()
        monkeypatch.setitem(data.MNIST_SHA256, gz_name.removesuffix(".gz"), digest)


def make_fake_npz(
    monkeypatch: pytest.MonkeyPatch, arrays: dict[str, np.ndarray]
) -> bytes:
    """Return Keras-style npz bytes of ``arrays`` and make their checksum expected."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x_train=arrays["train_images"],
        y_train=arrays["train_labels"],
        x_test=arrays["test_images"],
        y_test=arrays["test_labels"],
    )
    content = buffer.getvalue()
    monkeypatch.setattr(data, "KERAS_NPZ_SHA256", hashlib.sha256(content).hexdigest())
    return content


def idx_bytes(magic: bytes, dimensions: tuple[int, ...], payload: bytes) -> bytes:
    """Assemble an IDX file by hand from its magic number, sizes and data."""
    return magic + struct.pack(f">{len(dimensions)}I", *dimensions) + payload


def assert_arrays_equal(
    loaded: data.MnistArrays, expected: dict[str, np.ndarray]
) -> None:
    """Check a `load_mnist` result against the arrays it was made from."""
    (x_train, y_train), (x_test, y_test) = loaded
    np.testing.assert_array_equal(x_train, expected["train_images"])
    np.testing.assert_array_equal(y_train, expected["train_labels"])
    np.testing.assert_array_equal(x_test, expected["test_images"])
    np.testing.assert_array_equal(y_test, expected["test_labels"])
    assert x_train.dtype == y_train.dtype == np.uint8


def free_port_that_refuses_connections() -> int:
    """Return a local port that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------------
# A local HTTP server
# --------------------------------------------------------------------------------


class LocalServer:
    """Serve configured bytes and statuses per path on 127.0.0.1; 404 otherwise."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.stalled_paths: set[str] = set()
        self.requested_paths: list[str] = []
        self.release = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.handle_error = lambda request, client_address: None
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    def url(self, path: str) -> str:
        """Return the full URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def serve(self, path: str, body: bytes, status: int = 200) -> None:
        """Answer GET ``path`` with ``status`` and ``body``."""
        self.routes[path] = (status, body)

    def serve_mirror(self, prefix: str, folder: Path) -> str:
        """Serve the four .gz files of ``folder`` under ``prefix``; return its URL."""
        for gz_name in data.MNIST_FILES.values():
            self.serve(f"{prefix}{gz_name}", (folder / gz_name).read_bytes())
        return self.url(prefix)

    def stall(self, path: str) -> None:
        """Make GET ``path`` wait without answering until the test ends."""
        self.stalled_paths.add(path)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requested_paths.append(self.path)
                if self.path in server.stalled_paths:
                    server.release.wait(timeout=10)
                    return
                status, body = server.routes.get(self.path, (404, b"Not here"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Keep the test output quiet."""

        return Handler


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """Run a `LocalServer` for one test and shut it down afterwards."""
    local_server = LocalServer()
    local_server.start()
    yield local_server
    local_server.stop()


@pytest.fixture
def fake_mirror_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Write tiny fake MNIST .gz files and make their checksums the expected ones."""
    folder = write_fake_mnist(tmp_path / "mirror-files", make_fake_mnist())
    use_fake_checksums(monkeypatch, folder)
    return folder


# --------------------------------------------------------------------------------
# write_idx and read_idx
# --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tiny-idx3-ubyte", "tiny-idx3-ubyte.gz"])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (2, 1, 3, 2)])
def test_write_idx_then_read_idx_round_trips(
    tmp_path: Path, name: str, shape: tuple[int, ...]
) -> None:
    array = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)

    written = data.write_idx(tmp_path / name, array)
    loaded = data.read_idx(written)

    assert written == tmp_path / name
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, array)


def test_write_idx_writes_the_documented_header(tmp_path: Path) -> None:
    array = np.zeros((2, 3), dtype=np.uint8)

    data.write_idx(tmp_path / "plain-idx2-ubyte", array)

    content = (tmp_path / "plain-idx2-ubyte").read_bytes()
    assert content[:4] == bytes([0, 0, 0x08, 2])
    assert struct.unpack(">2I", content[4:12]) == (2, 3)
    assert len(content) == 12 + 6


def test_write_idx_gzip_output_is_reproducible(tmp_path: Path) -> None:
    array = make_fake_mnist()["train_images"]

    data.write_idx(tmp_path / "first-idx3-ubyte.gz", array)
    data.write_idx(tmp_path / "second-idx3-ubyte.gz", array)

    first = (tmp_path / "first-idx3-ubyte.gz").read_bytes()
    second = (tmp_path / "second-idx3-ubyte.gz").read_bytes()
    assert first[:2] == b"\x1f\x8b"
    assert first == second


def test_write_idx_leaves_no_temporary_file(tmp_path: Path) -> None:
    array = np.ones((4, 4), dtype=np.uint8)

    data.write_idx(tmp_path / "ones-idx2-ubyte.gz", array)

    assert [path.name for path in tmp_path.iterdir()] == ["ones-idx2-ubyte.gz"]


def test_write_idx_accepts_integers_within_unsigned_byte_range(tmp_path: Path) -> None:
    array = np.array([0, 1, 254, 255], dtype=np.int64)

    loaded = data.read_idx(data.write_idx(tmp_path / "ints-idx1-ubyte", array))

    assert loaded.dtype == np.uint8
    assert loaded.tolist() == [0, 1, 254, 255]


def test_write_idx_rejects_values_outside_unsigned_byte_range(tmp_path: Path) -> None:
    array = np.array([0, 256, -1])

    with pytest.raises(DatasetError) as raised:
        data.write_idx(tmp_path / "big-idx1-ubyte", array)

    message = str(raised.value)
    assert "big-idx1-ubyte" in message
    assert "-1 to 256" in message
    assert "np.clip" in message
    assert not (tmp_path / "big-idx1-ubyte").exists()


def test_write_idx_rejects_float_arrays(tmp_path: Path) -> None:
    array = np.full((2, 2), 0.5)

    with pytest.raises(DatasetError, match=r"dtype float64.*astype\(np.uint8\)"):
        data.write_idx(tmp_path / "floats-idx2-ubyte", array)


def test_write_idx_rejects_scalars_and_five_dimensions(tmp_path: Path) -> None:
    scalar = np.uint8(3)
    five_dimensions = np.zeros((1, 1, 1, 1, 1), dtype=np.uint8)

    with pytest.raises(DatasetError, match="0 dimensions"):
        data.write_idx(tmp_path / "scalar-idx0-ubyte", scalar)
    with pytest.raises(DatasetError, match="5 dimensions"):
        data.write_idx(tmp_path / "five-idx5-ubyte", five_dimensions)


def test_write_idx_into_missing_folder_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "no-such-folder" / "labels-idx1-ubyte"

    with pytest.raises(DatasetError, match=r"labels-idx1-ubyte.*folder exists"):
        data.write_idx(path, np.zeros(3, dtype=np.uint8))


def test_read_idx_returns_a_writable_array(tmp_path: Path) -> None:
    path = data.write_idx(tmp_path / "w-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))

    loaded = data.read_idx(path)
    loaded[0] = 9

    assert loaded.tolist() == [9, 0, 0]


def test_read_idx_reads_gzip_data_whatever_the_file_name(tmp_path: Path) -> None:
    compressed = tmp_path / "labels-idx1-ubyte.gz"
    data.write_idx(compressed, np.array([1, 2, 3], dtype=np.uint8))
    renamed = compressed.rename(tmp_path / "labels-without-suffix")

    loaded = data.read_idx(renamed)

    assert loaded.tolist() == [1, 2, 3]


def test_read_idx_rejects_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent-idx1-ubyte.gz"

    with pytest.raises(DatasetError) as raised:
        data.read_idx(path)

    message = str(raised.value)
    assert str(path) in message
    assert "does not exist" in message
    assert "MNIST_DATA_DIR" in message


def test_read_idx_rejects_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty-idx1-ubyte"
    path.write_bytes(b"")

    with pytest.raises(DatasetError) as raised:
        data.read_idx(path)

    message = str(raised.value)
    assert str(path) in message
    assert "is empty" in message
    assert "download it afresh" in message


def test_read_idx_rejects_wrong_magic_number(tmp_path: Path) -> None:
    path = tmp_path / "zero-magic-idx1-ubyte"
    path.write_bytes(idx_bytes(b"\x00\x00\x00\x00", (3,), b"\x01\x02\x03"))

    with pytest.raises(DatasetError) as raised:
        data.read_idx(path)

    message = str(raised.value)
    assert str(path) in message
    assert "magic number 0x00000000" in message
    assert "expected 0x00000803 (images) or 0x00000801 (labels)" in message
    assert "git checkout" in message


@pytest.mark.parametrize(
    ("content", "magic"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(40), "0x89504E47"),
        (b"<html><body>Access denied</body></html>", "0x3C68746D"),
    ],
    ids=["png", "html"],
)
def test_read_idx_rejects_file_that_is_not_idx(
    tmp_path: Path, content: bytes, magic: str
) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(content)

    with pytest.raises(DatasetError) as raised:
        data.read_idx(path)

    message = str(raised.value)
    assert str(path) in message
    assert f"magic number {magic}" in message
    assert "not an IDX file" in message
    assert "download it afresh" in message


def test_read_idx_rejects_unsupported_data_type(tmp_path: Path) -> None:
    path = tmp_path / "floats-idx1-float"
    path.write_bytes(idx_bytes(b"\x00\x00\x0d\x01", (2,), bytes(8)))

    with pytest.raises(DatasetError) as raised:
        data.read_idx(path)

    message = str(raised.value)
    assert str(path) in message
    assert "0x0D (32-bit float) is not supported" in message
    assert "0x08 (unsigned byte)" in message


@pytest.mark.parametrize("dimensions", [0, 5])
def test_read_idx_rejects_unsupported_number_of_dimensions(
    tmp_path: Path, dimensions: int
) -> None:
    path = tmp_path / "odd-idx-ubyte"
    sizes = (1,) * dimensions
    path.write_bytes(idx_bytes(bytes([0, 0, 8, dimensions]), sizes, b"\x07"))

    with pytest.raises(DatasetError) as raised:
        data.read_idx(path)

    message = str(raised.value)
    assert str(path) in message
    assert f"declares {dimensions} dimensions, but 1 to 4 are supported" in message


def test_read_idx_rejects_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "short-header-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">I", 60000))

    with pytest.raises(DatasetError) as raised:
        data.read_idx(path)

    message = str(raised.value)
    assert str(path) in message
    assert "truncated inside its header (8 bytes" in message


def test_read_idx_rejects_truncated_payload(tmp_path: Path) -> None:
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(idx_bytes(b"\x00\x00\x08\x03", (2, 3, 3), bytes(17)))

    with pytest.raises(DatasetError) as raised:
        data.read_idx(path)

    message = str(raised.value)
    assert str(path) in message
    assert "is truncated: its header declares 2x3x3 = 18 data bytes" in message
    assert "only 17 follow" in message


def test_read_idx_rejects_trailing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "long-idx1-ubyte"
    path.write_bytes(idx_bytes(b"\x00\x00\x08\x01", (4,), bytes(6)))

    with pytest.raises(DatasetError) as raised:
        data.read_idx(path)

    message = str(raised.value)
    assert str(path) in message
    assert "has 2 trailing bytes after the 4 data bytes" in message


def test_read_idx_rejects_truncated_gzip(tmp_path: Path) -> None:
    path = data.write_idx(
        tmp_path / "cut-idx3-ubyte.gz", make_fake_mnist()["train_images"]
    )
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])

    with pytest.raises(DatasetError) as raised:
        data.read_idx(path)

    message = str(raised.value)
    assert str(path) in message
    assert "truncated gzip file" in message
    assert "download it afresh" in message


def test_read_idx_rejects_corrupt_gzip(tmp_path: Path) -> None:
    path = data.write_idx(
        tmp_path / "flipped-idx3-ubyte.gz", make_fake_mnist()["train_images"]
    )
    content = bytearray(path.read_bytes())
    middle = len(content) // 2
    content[middle : middle + 16] = bytes(
        byte ^ 0xFF for byte in content[middle : middle + 16]
    )
    path.write_bytes(bytes(content))

    with pytest.raises(DatasetError) as raised:
        data.read_idx(path)

    message = str(raised.value)
    assert str(path) in message
    assert "corrupt gzip data" in message
    assert "download it afresh" in message


def test_read_idx_rejects_checksum_mismatch(tmp_path: Path) -> None:
    path = data.write_idx(tmp_path / "labels-idx1-ubyte", np.arange(5, dtype=np.uint8))
    wrong = "0" * 64

    with pytest.raises(DatasetError) as raised:
        data.read_idx(path, expected_sha256=wrong)

    message = str(raised.value)
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    assert str(path) in message
    assert f"has SHA-256 {actual}, expected {wrong}" in message
    assert "download it afresh" in message


def test_read_idx_accepts_matching_checksum(tmp_path: Path) -> None:
    path = data.write_idx(
        tmp_path / "labels-idx1-ubyte.gz", np.arange(5, dtype=np.uint8)
    )
    digest = hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()

    loaded = data.read_idx(path, expected_sha256=digest.upper())

    assert loaded.tolist() == [0, 1, 2, 3, 4]


# --------------------------------------------------------------------------------
# load_mnist on folders
# --------------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [True, False], ids=["gz", "plain"])
@pytest.mark.parametrize("size", [28, 8])
def test_load_mnist_reads_named_folder_without_checksums(
    tmp_path: Path, compressed: bool, size: int
) -> None:
    arrays = make_fake_mnist(train_count=12, test_count=5, height=size, width=size)
    folder = write_fake_mnist(tmp_path / "fake", arrays, compressed=compressed)

    loaded = data.load_mnist(folder, verify_checksums=False)

    assert_arrays_equal(loaded, arrays)
    assert loaded[0][0].shape == (12, size, size)
    assert loaded[1][1].shape == (5,)


def test_load_mnist_rejects_mismatched_image_and_label_counts(tmp_path: Path) -> None:
    arrays = make_fake_mnist()
    arrays["test_labels"] = arrays["test_labels"][:4]
    folder = write_fake_mnist(tmp_path / "mismatched", arrays)

    with pytest.raises(DatasetError) as raised:
        data.load_mnist(folder, verify_checksums=False)

    message = str(raised.value)
    assert "t10k-images-idx3-ubyte.gz holds 5 images" in message
    assert "t10k-labels-idx1-ubyte.gz holds 4 labels" in message
    assert "point data_dir at another folder" in message


def test_load_mnist_named_folder_with_missing_file_raises_instead_of_falling_back(
    tmp_path: Path,
) -> None:
    folder = write_fake_mnist(tmp_path / "incomplete", make_fake_mnist())
    (folder / "train-labels-idx1-ubyte.gz").unlink()

    with pytest.raises(DatasetError) as raised:
        data.load_mnist(folder, verify_checksums=False)

    message = str(raised.value)
    assert str(folder) in message
    assert "lacks train-labels-idx1-ubyte.gz" in message
    assert "leave data_dir out to use the shipped copy" in message


def test_load_mnist_rejects_named_folder_that_does_not_exist(tmp_path: Path) -> None:
    folder = tmp_path / "nowhere"

    with pytest.raises(DatasetError, match=r"names .*nowhere, which is not a folder"):
        data.load_mnist(folder)


def test_load_mnist_honours_mnist_data_dir_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = make_fake_mnist(height=8, width=8)
    folder = write_fake_mnist(tmp_path / "from-environment", arrays)
    monkeypatch.setenv("MNIST_DATA_DIR", str(folder))

    loaded = data.load_mnist(verify_checksums=False)

    assert_arrays_equal(loaded, arrays)
    assert data.locate_mnist() == folder


def test_load_mnist_environment_folder_with_missing_file_says_to_unset_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "empty-folder"
    folder.mkdir()
    monkeypatch.setenv("MNIST_DATA_DIR", str(folder))

    with pytest.raises(DatasetError) as raised:
        data.load_mnist()

    message = str(raised.value)
    assert "(named by MNIST_DATA_DIR)" in message
    assert "unset MNIST_DATA_DIR" in message


def test_load_mnist_data_dir_argument_overrides_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = make_fake_mnist(train_count=3, test_count=2)
    folder = write_fake_mnist(tmp_path / "argument", arrays)
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "nowhere"))

    loaded = data.load_mnist(folder, verify_checksums=False)

    assert_arrays_equal(loaded, arrays)


def test_load_mnist_with_checksums_rejects_other_datasets(tmp_path: Path) -> None:
    folder = write_fake_mnist(tmp_path / "fashion", make_fake_mnist())

    with pytest.raises(DatasetError) as raised:
        data.load_mnist(folder)

    message = str(raised.value)
    assert "train-images-idx3-ubyte.gz has SHA-256" in message
    assert "pass verify_checksums=False" in message


def test_load_mnist_with_checksums_rejects_images_that_are_not_28x28(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_fake_mnist(tmp_path / "small", make_fake_mnist(height=8, width=8))
    use_fake_checksums(monkeypatch, folder)

    with pytest.raises(DatasetError, match="holds 8x8 images, but MNIST's are 28x28"):
        data.load_mnist(folder)


def test_load_mnist_with_checksums_rejects_labels_above_nine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = make_fake_mnist()
    arrays["train_labels"][0] = 12
    folder = write_fake_mnist(tmp_path / "letters", arrays)
    use_fake_checksums(monkeypatch, folder)

    with pytest.raises(DatasetError, match=r"holds the label 12, but MNIST's are 0..9"):
        data.load_mnist(folder)


def test_load_mnist_skips_damaged_shipped_copy_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    arrays = make_fake_mnist()
    cache = write_fake_mnist(tmp_path / "cache", arrays)
    use_fake_checksums(monkeypatch, cache)
    shipped = write_fake_mnist(tmp_path / "shipped", arrays)
    (shipped / "t10k-labels-idx1-ubyte.gz").write_bytes(b"version https://git-lfs")
    monkeypatch.setattr(data, "SHIPPED_DATA_DIR", shipped)

    with caplog.at_level(logging.INFO, logger="mnist_helpers.data"):
        loaded = data.load_mnist(cache_dir=cache, download=False)

    assert_arrays_equal(loaded, arrays)
    assert "Skipping the shipped copy" in caplog.text
    assert f"Loaded MNIST from the cache folder {cache}" in caplog.text


def test_load_mnist_reads_cached_keras_npz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = make_fake_mnist()
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "mnist.npz").write_bytes(make_fake_npz(monkeypatch, arrays))
    monkeypatch.setattr(data, "SHIPPED_DATA_DIR", tmp_path / "no-shipped-copy")

    loaded = data.load_mnist(cache_dir=cache, download=False)

    assert_arrays_equal(loaded, arrays)
    assert data.locate_mnist(cache_dir=cache) == cache / "mnist.npz"


def test_load_mnist_without_download_and_empty_cache_says_how_to_enable_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "empty-cache"
    monkeypatch.setattr(data, "SHIPPED_DATA_DIR", tmp_path / "no-shipped-copy")

    with pytest.raises(DatasetError) as raised:
        data.load_mnist(cache_dir=cache, download=False)

    message = str(raised.value)
    assert str(cache) in message
    assert "download=False; pass download=True" in message
    assert not cache.exists()
    assert data.locate_mnist(cache_dir=cache) is None


# --------------------------------------------------------------------------------
# The shipped copy, against the facts in the dataset's README
# --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped_mnist() -> data.MnistArrays:
    """Load the shipped copy once, with checksums verified, and no fallback."""
    return data.load_mnist(data.SHIPPED_DATA_DIR, verify_checksums=True, download=False)


def test_shipped_mnist_has_keras_shapes_and_dtypes(
    shipped_mnist: data.MnistArrays,
) -> None:
    (x_train, y_train), (x_test, y_test) = shipped_mnist

    assert x_train.shape == (60000, 28, 28)
    assert y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28)
    assert y_test.shape == (10000,)
    dtypes = [x_train.dtype, y_train.dtype, x_test.dtype, y_test.dtype]
    assert dtypes == [np.dtype(np.uint8)] * 4


def test_shipped_mnist_starts_with_the_known_labels(
    shipped_mnist: data.MnistArrays,
) -> None:
    (_, y_train), (_, y_test) = shipped_mnist

    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_shipped_mnist_has_the_known_label_counts(
    shipped_mnist: data.MnistArrays,
) -> None:
    (_, y_train), (_, y_test) = shipped_mnist

    assert np.bincount(y_train, minlength=10).tolist() == TRAIN_LABEL_COUNTS
    assert np.bincount(y_test, minlength=10).tolist() == TEST_LABEL_COUNTS


@pytest.mark.parametrize(
    ("split", "mean", "std"), [(0, 0.1307, 0.3081), (1, 0.1325, 0.3105)]
)
def test_shipped_mnist_has_the_known_pixel_mean_and_std(
    shipped_mnist: data.MnistArrays, split: int, mean: float, std: float
) -> None:
    images = shipped_mnist[split][0]

    pixel_mean = images.mean(dtype=np.float64) / 255
    pixel_std = images.std(dtype=np.float64) / 255

    assert pixel_mean == pytest.approx(mean, abs=5e-5)
    assert pixel_std == pytest.approx(std, abs=5e-5)


def test_shipped_mnist_uses_the_full_grey_range(
    shipped_mnist: data.MnistArrays,
) -> None:
    (x_train, _), (x_test, _) = shipped_mnist

    assert (x_train.min(), x_train.max()) == (0, 255)
    assert (x_test.min(), x_test.max()) == (0, 255)


def test_load_mnist_uses_the_shipped_copy_by_default(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="mnist_helpers.data"):
        (_, y_train), _ = data.load_mnist(cache_dir=tmp_path / "unused", download=False)

    assert y_train[:3].tolist() == [5, 0, 4]
    assert f"shipped copy in {data.SHIPPED_DATA_DIR}" in caplog.text
    assert data.locate_mnist() == data.SHIPPED_DATA_DIR
    assert not (tmp_path / "unused").exists()


# --------------------------------------------------------------------------------
# Downloads from a local server
# --------------------------------------------------------------------------------


def test_download_mnist_fetches_the_four_files_into_the_cache(
    tmp_path: Path, server: LocalServer, fake_mirror_folder: Path
) -> None:
    mirror = server.serve_mirror("/mirror/", fake_mirror_folder)
    cache = tmp_path / "new" / "cache"

    result = data.download_mnist(cache, mirrors=[mirror], timeout=SERVER_TIMEOUT)

    assert result == cache
    assert sorted(path.name for path in cache.iterdir()) == sorted(
        data.MNIST_FILES.values()
    )
    loaded = data.load_mnist(cache, verify_checksums=True)
    assert_arrays_equal(loaded, make_fake_mnist())


@pytest.mark.parametrize("status", [404, 500])
def test_download_mnist_falls_back_when_first_mirror_returns_http_error(
    tmp_path: Path,
    server: LocalServer,
    fake_mirror_folder: Path,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for gz_name in data.MNIST_FILES.values():
        server.serve(f"/broken/{gz_name}", b"error page", status=status)
    good = server.serve_mirror("/good/", fake_mirror_folder)
    cache = tmp_path / "cache"

    data.download_mnist(
        cache, mirrors=[server.url("/broken/"), good], timeout=SERVER_TIMEOUT
    )

    assert sorted(path.name for path in cache.iterdir()) == sorted(
        data.MNIST_FILES.values()
    )
    assert f"HTTP {status}" in caplog.text
    assert any(record.levelno == logging.WARNING for record in caplog.records)


@pytest.mark.parametrize("damage", ["truncated", "other-data", "html"])
def test_download_mnist_falls_back_when_first_mirror_serves_corrupt_bytes(
    tmp_path: Path, server: LocalServer, fake_mirror_folder: Path, damage: str
) -> None:
    for gz_name in data.MNIST_FILES.values():
        good_bytes = (fake_mirror_folder / gz_name).read_bytes()
        bad_bytes = {
            "truncated": good_bytes[: len(good_bytes) // 2],
            "other-data": gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"),
            "html": b"<html>Please log in</html>",
        }[damage]
        server.serve(f"/corrupt/{gz_name}", bad_bytes)
    good = server.serve_mirror("/good/", fake_mirror_folder)
    cache = tmp_path / "cache"

    data.download_mnist(
        cache, mirrors=[server.url("/corrupt/"), good], timeout=SERVER_TIMEOUT
    )

    assert_arrays_equal(data.load_mnist(cache), make_fake_mnist())
    assert sorted(path.name for path in cache.iterdir()) == sorted(
        data.MNIST_FILES.values()
    )


def test_download_mnist_falls_back_when_first_mirror_refuses_connections(
    tmp_path: Path, server: LocalServer, fake_mirror_folder: Path
) -> None:
    refusing = f"http://127.0.0.1:{free_port_that_refuses_connections()}/"
    good = server.serve_mirror("/good/", fake_mirror_folder)
    cache = tmp_path / "cache"

    data.download_mnist(cache, mirrors=[refusing, good], timeout=SERVER_TIMEOUT)

    assert_arrays_equal(data.load_mnist(cache), make_fake_mnist())


def test_download_mnist_falls_back_when_first_mirror_times_out(
    tmp_path: Path, server: LocalServer, fake_mirror_folder: Path
) -> None:
    for gz_name in data.MNIST_FILES.values():
        server.stall(f"/slow/{gz_name}")
    good = server.serve_mirror("/good/", fake_mirror_folder)
    cache = tmp_path / "cache"

    data.download_mnist(cache, mirrors=[server.url("/slow/"), good], timeout=0.5)

    assert_arrays_equal(data.load_mnist(cache), make_fake_mnist())
    slow_requests = [
        path for path in server.requested_paths if path.startswith("/slow")
    ]
    assert len(slow_requests) == 1


def test_download_mnist_uses_keras_npz_when_every_mirror_fails(
    tmp_path: Path, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = make_fake_mnist()
    server.serve("/keras/mnist.npz", make_fake_npz(monkeypatch, arrays))
    monkeypatch.setattr(data, "SHIPPED_DATA_DIR", tmp_path / "no-shipped-copy")
    cache = tmp_path / "cache"

    data.download_mnist(
        cache,
        mirrors=[server.url("/empty-mirror/")],
        timeout=SERVER_TIMEOUT,
        keras_npz_url=server.url("/keras/mnist.npz"),
    )

    assert [path.name for path in cache.iterdir()] == ["mnist.npz"]
    assert_arrays_equal(data.load_mnist(cache_dir=cache, download=False), arrays)


def test_download_mnist_failure_explains_manual_download_and_leaves_no_files(
    tmp_path: Path, server: LocalServer, fake_mirror_folder: Path
) -> None:
    refusing = f"http://127.0.0.1:{free_port_that_refuses_connections()}/"
    for gz_name in data.MNIST_FILES.values():
        content = (fake_mirror_folder / gz_name).read_bytes()
        server.serve(f"/truncating/{gz_name}", content[:20])
    server.serve("/keras/mnist.npz", b"PK\x03\x04 not really a zip")
    cache = tmp_path / "cache"

    with pytest.raises(DatasetError) as raised:
        data.download_mnist(
            cache,
            mirrors=[refusing, server.url("/truncating/")],
            timeout=SERVER_TIMEOUT,
            keras_npz_url=server.url("/keras/mnist.npz"),
        )

    message = str(raised.value)
    assert f"Could not download MNIST into {cache}" in message
    assert f"{refusing}: Connection refused" in message
    assert "truncated gzip data" in message
    assert "/keras/mnist.npz: SHA-256" in message
    assert "by hand from https://storage.googleapis.com/cvdf-datasets/mnist/" in message
    assert "train-images-idx3-ubyte.gz" in message
    assert "t10k-labels-idx1-ubyte.gz" in message
    assert f"put them in {cache}" in message
    assert "MNIST_DATA_DIR" in message
    assert list(cache.iterdir()) == []


def test_load_mnist_downloads_into_cache_when_no_local_copy_exists(
    tmp_path: Path,
    server: LocalServer,
    fake_mirror_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(data, "SHIPPED_DATA_DIR", tmp_path / "no-shipped-copy")
    monkeypatch.setenv(
        "MNIST_MIRRORS", " , " + server.serve_mirror("/m/", fake_mirror_folder)
    )
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "env-cache"))

    loaded = data.load_mnist(timeout=SERVER_TIMEOUT)

    assert_arrays_equal(loaded, make_fake_mnist())
    assert (tmp_path / "env-cache" / "train-images-idx3-ubyte.gz").is_file()
    assert data.locate_mnist() == tmp_path / "env-cache"


def test_download_mnist_keeps_valid_cached_files_without_asking_mirrors(
    tmp_path: Path, server: LocalServer, fake_mirror_folder: Path
) -> None:
    cache = write_fake_mnist(tmp_path / "cache", make_fake_mnist())
    before = {path.name: path.stat().st_mtime_ns for path in cache.iterdir()}

    data.download_mnist(cache, mirrors=[server.url("/m/")], timeout=SERVER_TIMEOUT)

    after = {path.name: path.stat().st_mtime_ns for path in cache.iterdir()}
    assert after == before
    assert server.requested_paths == []


def test_download_mnist_replaces_a_damaged_cached_file(
    tmp_path: Path, server: LocalServer, fake_mirror_folder: Path
) -> None:
    cache = write_fake_mnist(tmp_path / "cache", make_fake_mnist())
    (cache / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    mirror = server.serve_mirror("/m/", fake_mirror_folder)

    data.download_mnist(cache, mirrors=[mirror], timeout=SERVER_TIMEOUT)

    assert server.requested_paths == ["/m/train-labels-idx1-ubyte.gz"]
    assert_arrays_equal(data.load_mnist(cache), make_fake_mnist())


def test_download_mnist_rejects_cache_path_below_a_regular_file(
    tmp_path: Path,
) -> None:
    regular_file = tmp_path / "not-a-folder"
    regular_file.write_text("plain file")
    cache = regular_file / "cache"

    with pytest.raises(DatasetError) as raised:
        data.download_mnist(cache, mirrors=[], keras_npz_url=None)

    message = str(raised.value)
    assert f"Cannot use {cache} as the MNIST cache folder" in message
    assert "set MNIST_CACHE_DIR" in message


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0,
    reason="root (and Windows) may write into read-only folders",
)
def test_download_mnist_rejects_read_only_cache_folder(tmp_path: Path) -> None:
    cache = tmp_path / "read-only"
    cache.mkdir()
    cache.chmod(0o555)

    try:
        with pytest.raises(DatasetError, match=r"Permission denied.*MNIST_CACHE_DIR"):
            data.download_mnist(cache, mirrors=[], keras_npz_url=None)
    finally:
        cache.chmod(0o755)


def test_download_mnist_rejects_cache_folder_it_may_not_write_into(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root ignores permission bits, so simulate the refusal a student would see.
    cache = tmp_path / "shared-cache"
    cache.mkdir()

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "touch", refuse)

    with pytest.raises(DatasetError) as raised:
        data.download_mnist(cache, mirrors=[], keras_npz_url=None)

    message = str(raised.value)
    assert f"Cannot use {cache} as the MNIST cache folder" in message
    assert "Permission denied" in message
    assert "MNIST_CACHE_DIR" in message
    assert list(cache.iterdir()) == []


def deny_permission(self: Path) -> None:
    """Stand in for a Path method, failing as Python does on a chmod 000 path."""
    raise PermissionError(13, "Permission denied", str(self))


def test_load_mnist_reports_a_folder_it_may_not_look_into(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root may enter any folder, so answer as Python does for a chmod 000 one.
    folder = tmp_path / "locked"
    folder.mkdir()

    monkeypatch.setattr(Path, "is_file", deny_permission)

    with pytest.raises(DatasetError) as raised:
        data.load_mnist(folder)

    message = str(raised.value)
    assert f"Cannot look for MNIST files in {folder}" in message
    assert "Permission denied" in message
    assert "read access" in message


def test_read_idx_reports_a_file_it_may_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root may read any file, so answer as Python does for a chmod 000 one.
    path = data.write_idx(tmp_path / "labels-idx1-ubyte", np.arange(5, dtype=np.uint8))

    monkeypatch.setattr(Path, "read_bytes", deny_permission)

    with pytest.raises(DatasetError) as raised:
        data.read_idx(path)

    message = str(raised.value)
    assert f"{path} cannot be read (Permission denied)" in message
    assert "download it afresh" in message


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """Return the bytes of an .npz archive holding ``arrays``, pickles allowed."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def damaged_npz_contents() -> dict[str, tuple[bytes, str]]:
    """Return cached mnist.npz contents that must be refused, with the reason."""
    good = make_fake_mnist()
    keras_keys = {
        "x_train": good["train_images"],
        "y_train": good["train_labels"],
        "x_test": good["test_images"],
        "y_test": good["test_labels"],
    }
    without_y_test = {key: keras_keys[key] for key in ("x_train", "y_train", "x_test")}
    return {
        "not-a-zip": (b"PK\x03\x04 but then nothing", "is not a readable .npz file"),
        "missing-key": (npz_bytes(**without_y_test), "lacks the array y_test"),
        "float-pixels": (
            npz_bytes(**{**keras_keys, "x_train": good["train_images"] / 255.0}),
            "holds x_train of dtype float64, expected uint8",
        ),
        "pickled-objects": (
            npz_bytes(
                **{**keras_keys, "y_test": np.array([{"run": "code"}], dtype=object)}
            ),
            "Object arrays cannot be loaded when allow_pickle=False",
        ),
    }


@pytest.mark.parametrize("case", sorted(damaged_npz_contents()))
def test_load_mnist_refuses_a_damaged_cached_npz_and_names_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    content, reason = damaged_npz_contents()[case]
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "mnist.npz").write_bytes(content)
    # Let the checksum pass, so the archive itself is what gets checked.
    monkeypatch.setattr(data, "KERAS_NPZ_SHA256", hashlib.sha256(content).hexdigest())
    monkeypatch.setattr(data, "SHIPPED_DATA_DIR", tmp_path / "no-shipped-copy")

    with pytest.raises(DatasetError) as raised:
        data.load_mnist(cache_dir=cache, download=False)

    message = str(raised.value)
    assert str(cache / "mnist.npz") in message
    assert reason in message


def test_load_mnist_prefers_the_shipped_copy_to_a_filled_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    shipped_arrays = make_fake_mnist(train_count=12)
    cached_arrays = make_fake_mnist(train_count=20)
    shipped = write_fake_mnist(tmp_path / "shipped", shipped_arrays)
    cache = write_fake_mnist(tmp_path / "cache", cached_arrays)
    monkeypatch.setattr(data, "SHIPPED_DATA_DIR", shipped)

    with caplog.at_level(logging.INFO, logger="mnist_helpers.data"):
        loaded = data.load_mnist(
            cache_dir=cache, download=False, verify_checksums=False
        )

    assert_arrays_equal(loaded, shipped_arrays)
    assert f"shipped copy in {shipped}" in caplog.text
