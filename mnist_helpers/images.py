"""Turn raw pictures of handwritten digits into MNIST-style 28x28 inputs.

MNIST digits are white strokes (high values) on a black background (0). Each
digit's bounding box was fitted into 20x20 pixels, keeping its aspect ratio,
with an anti-aliased resize, then placed in a 28x28 frame so that its centre
of mass sits at the centre of the frame. A model trained on MNIST only works
well on new pictures prepared the same way, which is what this module does.

Example:
    >>> from mnist_helpers.images import prepare_digit
    >>> digit = prepare_digit("my_seven.png")  # doctest: +SKIP
    >>> digit.shape, digit.dtype  # doctest: +SKIP
    ((28, 28), dtype('float32'))
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_helpers.errors import ImageInputError

logger = logging.getLogger(__name__)

#: Side of the square frame of an MNIST image, in pixels.
FRAME_SIZE = 28

#: Side of the square box the digit's bounding box is fitted into, in pixels.
DIGIT_BOX_SIZE = 20

#: Where the digit's centre of mass is placed (row, column). On the real MNIST
#: test set the centre of mass averages (14.0, 14.0) in array coordinates.
CENTRE_OF_MASS_TARGET = (14.0, 14.0)

#: A pixel belongs to the digit's bounding box when it is brighter than this
#: fraction of the brightest pixel, after the background has been removed.
INK_THRESHOLD = 0.1

#: Smallest contrast (on the 0-1 scale) between the ink and the background
#: for a picture to count as containing a digit at all.
MIN_INK_CONTRAST = 0.02

#: Weights that turn red, green and blue into grey (ITU-R BT.601 luma).
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])

PathInput = str | os.PathLike[str]
ImageInput = np.ndarray | PathInput


def load_image_file(path: PathInput) -> np.ndarray:
    """Read an image file into a uint8 array of grey or RGBA values.

    The EXIF orientation tag is applied, so a phone photo comes out the way it
    is displayed. Images with transparency come back as (H, W, 4) RGBA arrays;
    all others come back as (H, W) grey arrays. 16-bit images are scaled down
    to 8 bits.

    Args:
        path: Path to a PNG, JPEG, BMP, GIF or any other file Pillow can read.

    Returns:
        A uint8 array of shape (H, W) or (H, W, 4).

    Raises:
        ImageInputError: If the file is missing, is a directory, is not an
            image, or is damaged.
    """
    path = Path(path)
    if not path.exists():
        raise ImageInputError(
            f"No image file at '{path}'; check the path and the current "
            f"working directory ({Path.cwd()})."
        )
    if path.is_dir():
        raise ImageInputError(
            f"'{path}' is a directory, not an image file; pass the path of a "
            "PNG or JPEG file inside it."
        )

    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            return _pil_image_to_array(image)
    except UnidentifiedImageError as error:
        raise ImageInputError(
            f"'{path}' is not an image file Pillow can read; save the drawing "
            "as PNG or JPEG and pass that file."
        ) from error
    except OSError as error:
        raise ImageInputError(
            f"The image file '{path}' could not be read ({error}); it may be "
            "truncated or damaged, so export it again."
        ) from error


def _pil_image_to_array(image: Image.Image) -> np.ndarray:
    """Convert a Pillow image to a uint8 grey (H, W) or RGBA (H, W, 4) array."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        "transparency" in image.info
    )
    if has_alpha:
        return np.asarray(image.convert("RGBA"), dtype=np.uint8)

    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        values = np.asarray(image, dtype=np.float64)
        if values.max(initial=0) > 255:
            values = values / 257.0
        return np.clip(np.round(values), 0, 255).astype(np.uint8)

    return np.asarray(image.convert("L"), dtype=np.uint8)


def prepare_digit(image: ImageInput) -> np.ndarray:
    """Turn one picture of a handwritten digit into an MNIST-style 28x28 array.

    A 28x28 (or 28x28x1) array is trusted to be MNIST-style already (white
    digit on black, fitted and centred) and is only scaled to [0, 1], so
    ``prepare_digit(x_test[i])`` equals ``x_test[i] / 255``.

    Anything else (a larger grey array, an RGB or RGBA array, or the path of
    an image file, even a 28x28 one) goes through the full MNIST
    preprocessing:

    1. Convert to grey on a 0-1 scale. Transparent pixels count as
       background: they are filled with white when the visible strokes are
       dark and with black when they are light, so a digit drawn on a
       transparent canvas works in either colour.
    2. If the border is mostly bright, the picture is dark ink on light paper
       and is inverted so the digit is bright on dark.
    3. Subtract the background level (the median of the border pixels) and
       drop pixels fainter than 10% of the brightest one.
    4. Crop to the digit's bounding box, resize its longer side to 20 pixels
       keeping the aspect ratio (Lanczos, anti-aliased), and paste it into a
       28x28 frame so its centre of mass lands near (14, 14), moving it only
       by whole pixels and never out of the frame.
    5. Rescale so the brightest pixel is 1.

    Values are scaled to [0, 1] by this rule: integer arrays are divided by
    255; float arrays are divided by 255 when their maximum is above 1 and
    kept as they are otherwise; boolean arrays become 0 and 1.

    Args:
        image: A numpy array of shape (H, W), (H, W, 1), (H, W, 3) or
            (H, W, 4) with H and W at least 28, or a path to an image file.

    Returns:
        A float32 array of shape (28, 28) with values in [0, 1].

    Raises:
        ImageInputError: If the input is empty, has the wrong shape or type,
            is smaller than 28x28, holds values outside 0-255 or NaN, or is
            blank.
    """
    if isinstance(image, (str, os.PathLike)):
        try:
            pixels = _validated_array(load_image_file(image))
        except ImageInputError as error:
            if str(image) in str(error):
                raise
            raise ImageInputError(f"In '{image}': {error}") from error
        return _preprocess_picture(_to_unit_range(pixels))

    pixels = _validated_array(image)
    if pixels.shape[:2] == (FRAME_SIZE, FRAME_SIZE) and pixels.ndim == 2:
        digit = _to_unit_range(pixels).astype(np.float32)
        _warn_if_dark_on_light(digit)
        return digit
    return _preprocess_picture(_to_unit_range(pixels))


def prepare_digits(images: np.ndarray | Iterable[ImageInput]) -> np.ndarray:
    """Prepare a batch of digit pictures for ``model.predict``.

    Args:
        images: A stacked array of shape (N, 28, 28) or (N, 28, 28, 1), which
            is scaled to [0, 1] as a whole (see `prepare_digit` for the rule),
            or a list of arrays and image paths, each prepared with
            `prepare_digit`. Any other 3-D or 4-D array is treated as a stack
            of N pictures along its first axis.

    Returns:
        A float32 array of shape (N, 28, 28, 1) with values in [0, 1].

    Raises:
        ImageInputError: If there are no images, a single path or 2-D array
            is passed instead of a batch, or any picture is rejected by
            `prepare_digit` (the message says which one).
    """
    if isinstance(images, (str, bytes, os.PathLike)):
        raise ImageInputError(
            f"prepare_digits expects a batch of images but got the single path "
            f"{images!r}; wrap it in a list, or call prepare_digit for one image."
        )

    if isinstance(images, np.ndarray):
        if images.ndim == 2:
            raise ImageInputError(
                f"prepare_digits expects a batch of images but got one 2-D array "
                f"of shape {images.shape}; wrap it in a list, or call "
                "prepare_digit for one image."
            )
        is_mnist_stack = images.shape[1:] in (
            (FRAME_SIZE, FRAME_SIZE),
            (FRAME_SIZE, FRAME_SIZE, 1),
        )
        if is_mnist_stack and images.shape[0] > 0:
            return _prepare_mnist_stack(images)
    items = list(images)

    if not items:
        raise ImageInputError(
            "prepare_digits got no images; pass a list of arrays or image paths "
            "with at least one element."
        )

    prepared = []
    for position, item in enumerate(items):
        try:
            prepared.append(prepare_digit(item))
        except ImageInputError as error:
            raise ImageInputError(f"Image {position} of the batch: {error}") from error
    return np.stack(prepared)[..., np.newaxis]


def _prepare_mnist_stack(images: np.ndarray) -> np.ndarray:
    """Scale an (N, 28, 28[, 1]) stack of MNIST-style digits in one go."""
    pixels = _validated_values(images)
    digits = _to_unit_range(pixels).astype(np.float32)
    digits = digits.reshape(len(digits), FRAME_SIZE, FRAME_SIZE, 1)

    value_range = digits.max(axis=(1, 2, 3)) - digits.min(axis=(1, 2, 3))
    blank = np.flatnonzero(value_range == 0)
    if blank.size:
        raise ImageInputError(
            f"Image {blank[0]} of the batch is blank (every pixel equals "
            f"{digits[blank[0]].flat[0]:g}); remove it or pass a picture with a "
            "visible digit."
        )
    return digits


def _validated_array(image: object) -> np.ndarray:
    """Check the shape and values of one picture and return it as an array."""
    if not isinstance(image, np.ndarray):
        raise ImageInputError(
            f"Expected a numpy array or an image path but got "
            f"{type(image).__name__}; pass np.asarray(image) or a file path."
        )
    if image.size == 0:
        raise ImageInputError(
            f"The image array is empty (shape {image.shape}); pass a picture "
            "with at least 28x28 pixels."
        )
    if image.ndim not in (2, 3):
        raise ImageInputError(
            f"Expected an image of shape (H, W) or (H, W, channels) but got "
            f"{image.ndim} dimensions (shape {image.shape}); pass one picture "
            "at a time, or use prepare_digits for a batch."
        )
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise ImageInputError(
            f"Expected 1 (grey), 3 (RGB) or 4 (RGBA) channels in the last axis "
            f"but got shape {image.shape}; move the channels to the last axis."
        )
    height, width = image.shape[:2]
    if height < FRAME_SIZE or width < FRAME_SIZE:
        raise ImageInputError(
            f"The image is {height}x{width} pixels but the minimum is "
            f"{FRAME_SIZE}x{FRAME_SIZE}; pass a larger picture, or an "
            "MNIST-style 28x28 array."
        )
    pixels = _validated_values(image)
    if pixels.min() == pixels.max():
        raise ImageInputError(
            f"The image is blank (every value equals {pixels.flat[0]:g}), so no "
            "digit can be found; pass a picture with a visible digit."
        )
    if image.ndim == 3 and image.shape[2] == 1:
        pixels = pixels[:, :, 0]
    return pixels


def _validated_values(pixels: np.ndarray) -> np.ndarray:
    """Check the dtype and value range of an image array."""
    if pixels.dtype == np.bool_:
        return pixels.astype(np.float32)
    if not (
        np.issubdtype(pixels.dtype, np.integer)
        or np.issubdtype(pixels.dtype, np.floating)
    ):
        raise ImageInputError(
            f"Image values must be numbers but the array has dtype "
            f"{pixels.dtype}; convert it with .astype(np.uint8) or "
            ".astype(np.float32)."
        )
    if not np.all(np.isfinite(pixels)):
        raise ImageInputError(
            f"The image contains {np.count_nonzero(~np.isfinite(pixels))} NaN "
            "or infinite values; replace them, for example with np.nan_to_num."
        )
    lowest, highest = pixels.min(), pixels.max()
    if lowest < 0 or highest > 255:
        raise ImageInputError(
            f"Image values must lie in 0-255 (or 0-1) but range from {lowest:g} "
            f"to {highest:g}; rescale the picture into that range."
        )
    return pixels


def _to_unit_range(pixels: np.ndarray) -> np.ndarray:
    """Scale validated pixel values to floats in [0, 1]."""
    values = pixels.astype(np.float64)
    if np.issubdtype(pixels.dtype, np.integer) or values.max() > 1.0:
        return values / 255.0
    return values


def _warn_if_dark_on_light(digit: np.ndarray) -> None:
    """Log a warning when a 28x28 digit looks like dark ink on light paper."""
    border = _border_pixels(digit)
    if np.median(border) > 0.5:
        logger.warning(
            "This 28x28 image has a bright border, so it is probably dark ink on "
            "light paper; MNIST models expect a white digit on black, so invert "
            "it (1 - image) or pass a larger picture for full preprocessing."
        )


def _to_grey(pixels: np.ndarray) -> np.ndarray:
    """Convert a (H, W), (H, W, 3) or (H, W, 4) array on [0, 1] to grey."""
    if pixels.ndim == 2:
        return pixels

    grey = pixels[:, :, :3] @ _LUMA_WEIGHTS
    if pixels.shape[2] == 3:
        return grey

    alpha = pixels[:, :, 3]
    if np.all(alpha == alpha.max()):
        return grey
    visible_mean = np.sum(grey * alpha) / np.sum(alpha)
    background = 1.0 if visible_mean < 0.5 else 0.0
    return alpha * grey + (1.0 - alpha) * background


def _border_pixels(grey: np.ndarray) -> np.ndarray:
    """Return the one-pixel-wide outer ring of a 2-D array."""
    return np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])


def _preprocess_picture(pixels: np.ndarray) -> np.ndarray:
    """Run the full MNIST preprocessing on a picture scaled to [0, 1]."""
    grey = np.clip(_to_grey(pixels), 0.0, 1.0)

    if np.median(_border_pixels(grey)) > 0.5:
        grey = 1.0 - grey
    background = np.median(_border_pixels(grey))
    ink = np.clip(grey - background, 0.0, None)

    peak = ink.max()
    if peak < MIN_INK_CONTRAST:
        raise ImageInputError(
            f"No digit found: the brightest stroke differs from the background by "
            f"only {peak:.3f} on a 0-1 scale; pass a picture with a clearly "
            "visible digit."
        )
    ink[ink < INK_THRESHOLD * peak] = 0.0

    cropped = _crop_to_ink(ink)
    fitted = _fit_into_box(cropped, DIGIT_BOX_SIZE)
    framed = _centre_in_frame(fitted, FRAME_SIZE)
    return (framed / framed.max()).astype(np.float32)


def _crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """Crop a 2-D array to the bounding box of its non-zero pixels."""
    rows = np.flatnonzero(ink.any(axis=1))
    columns = np.flatnonzero(ink.any(axis=0))
    return ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]


def _fit_into_box(digit: np.ndarray, box_size: int) -> np.ndarray:
    """Resize so the longer side is ``box_size`` pixels, keeping the aspect."""
    height, width = digit.shape
    scale = box_size / max(height, width)
    new_height = max(1, round(height * scale))
    new_width = max(1, round(width * scale))

    image = Image.fromarray(digit.astype(np.float32))
    resized = image.resize((new_width, new_height), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, None)


def _centre_in_frame(digit: np.ndarray, frame_size: int) -> np.ndarray:
    """Paste a digit into a square frame with its centre of mass at the centre."""
    height, width = digit.shape
    total = digit.sum()
    mass_row = (digit.sum(axis=1) @ np.arange(height)) / total
    mass_column = (digit.sum(axis=0) @ np.arange(width)) / total

    target_row, target_column = CENTRE_OF_MASS_TARGET
    top = int(np.clip(round(target_row - mass_row), 0, frame_size - height))
    left = int(np.clip(round(target_column - mass_column), 0, frame_size - width))

    frame = np.zeros((frame_size, frame_size))
    frame[top : top + height, left : left + width] = digit
    return frame
