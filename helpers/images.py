"""Images in and out: load a photo from anywhere as RGB uint8, resize it (or crop it to fill a
shape: ``cover``), put two photos side by side in one image (``side_by_side``), and turn any
optimized input tensor back into something a person can look at."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SAMPLES_DIR = DATA_DIR / "images"

#: Sample photos shipped in data/images (sources and licenses in data/README.md).
SAMPLE_IMAGES = {
    "cat": "cat.jpg",
    "coffee": "coffee.jpg",
    "astronaut": "astronaut.jpg",
    "rocket": "rocket.jpg",
}

URL_TIMEOUT = 10.0


def sample_path(name: str) -> Path:
    """Path of a sample photo by short name ('cat', 'coffee', 'astronaut', 'rocket')."""
    if name not in SAMPLE_IMAGES:
        raise ValueError(
            f"No sample image called {name!r}. Samples: {', '.join(SAMPLE_IMAGES)}; "
            "or pass a file path, a URL or an array."
        )
    return SAMPLES_DIR / SAMPLE_IMAGES[name]


def load_image(source, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """Load an image as an RGB ``uint8`` array of shape (height, width, 3).

    Args:
        source: a sample name ('cat'), a file path, an http(s) URL, a PIL image, or an array
            (grayscale (H, W), (H, W, 1), RGB or RGBA; uint8, 16-bit, or float in [0, 1]).
        size: if given, resize to ``size`` x ``size`` (or (height, width)).

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the file or array is not an image.
        ConnectionError: the URL cannot be fetched.
    """
    image = to_rgb(_open(source))
    return resize(image, size) if size is not None else image


def _open(source):
    if isinstance(source, np.ndarray | Image.Image):
        return source
    if not isinstance(source, str | Path):
        raise TypeError(
            f"Cannot load an image from a {type(source).__name__}; pass a sample name, "
            "a path, a URL, a PIL image or a NumPy array."
        )
    text = str(source)
    if text.startswith(("http://", "https://")):
        return _open_bytes(_download(text), text)
    if text in SAMPLE_IMAGES and not Path(text).exists():
        source = sample_path(text)
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"No image file at '{path}'. Check the path (relative paths start at "
            f"{Path.cwd()}); sample photos: {', '.join(SAMPLE_IMAGES)}."
        )
    return _open_bytes(path.read_bytes(), str(path))


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=URL_TIMEOUT) as response:
            return response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise ConnectionError(
            f"Could not download {url} ({err}). Check the address and your connection, "
            "or save the image and pass its file path."
        ) from None


def _open_bytes(data: bytes, where: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError):
        raise ValueError(
            f"'{where}' is not an image file that Pillow can read. Pass a JPEG, PNG, GIF, "
            "BMP or TIFF photo."
        ) from None
    return image


def to_rgb(image) -> np.ndarray:
    """Convert a PIL image or array in any common mode to RGB ``uint8``.

    Grayscale is repeated over three channels, alpha is composited onto white, palette
    images are expanded, and 16-bit or float data is scaled to 0..255.
    """
    if isinstance(image, Image.Image):
        return _pil_to_rgb(image)
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(
            f"An image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got shape "
            f"{array.shape}. For a batch, pass one image at a time (images[0])."
        )
    if array.size == 0:
        raise ValueError(f"The image array is empty (shape {array.shape}).")
    array = _to_uint8(array)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.shape[-1] == 4:
        array = _composite_on_white(array)
    return np.ascontiguousarray(array)


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.integer):
        top = 65535 if array.max(initial=0) > 255 else 255
        return (array.astype(np.float64) * (255 / top)).round().clip(0, 255).astype(np.uint8)
    if not np.all(np.isfinite(array)):
        raise ValueError("The image array contains NaN or infinity; fix its values first.")
    scale = 255.0 if array.max(initial=0) <= 1.0 else 1.0  # floats in [0, 1] or [0, 255]
    return (array * scale).round().clip(0, 255).astype(np.uint8)


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    return rgb.round().astype(np.uint8)


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return to_rgb(np.asarray(image))
    if image.mode == "P" or image.mode == "LA" or image.mode == "PA":
        image = image.convert("RGBA")
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGB")
    return to_rgb(np.asarray(image))


def _target(size: int | tuple[int, int]) -> tuple[int, int]:
    """(height, width) from an int (a square) or a pair, checked to be positive."""
    height, width = (size, size) if isinstance(size, int | np.integer) else size
    if height <= 0 or width <= 0:
        raise ValueError(f"Image size must be positive, got {size}.")
    return int(height), int(width)


def resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Bilinearly resize an RGB uint8 image to ``size`` (an int for a square, or (height,
    width)): the one resizer for images (``cover`` crops first); maps use ``resize_maps``."""
    height, width = _target(size)
    pil = Image.fromarray(to_rgb(image))
    return np.asarray(pil.resize((width, height), Image.Resampling.BILINEAR))


def resize_maps(maps, size: int | tuple[int, int]) -> np.ndarray:
    """Bilinearly resize one map (h, w) or a batch (N, h, w) to ``size`` (height, width).

    The one resizer for heatmaps, activation maps and saliency maps (float values kept, not
    rounded to pixels): images use ``resize``.

    Raises:
        ValueError: not a 2-D map or a batch of them, or a size that is not positive.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim not in (2, 3):
        raise ValueError(f"Expected a map (h, w) or a batch of maps (N, h, w); got shape "
                         f"{maps.shape}.")
    height, width = _target(size)
    if maps.shape[-2:] == (height, width):
        return maps
    resized = [np.asarray(Image.fromarray(m, mode="F").resize((width, height),
                                                              Image.Resampling.BILINEAR))
               for m in maps.reshape(-1, *maps.shape[-2:])]
    return np.stack(resized).reshape(*maps.shape[:-2], height, width)


def cover(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize an RGB image to fill ``size`` (an int for a square, or (height, width)) without
    distorting it: the largest centred crop of the target's aspect ratio, then ``resize``d."""
    height, width = _target(size)
    image = to_rgb(image)
    rows, cols = image.shape[:2]
    # crop whichever side is too long for the target's aspect ratio height / width
    crop_rows = min(rows, max(1, round(cols * height / width)))
    crop_cols = min(cols, max(1, round(rows * width / height)))
    top, left = (rows - crop_rows) // 2, (cols - crop_cols) // 2
    return resize(image[top:top + crop_rows, left:left + crop_cols], (height, width))


def side_by_side(left, right, size: int = 224) -> np.ndarray:
    """Two photos in one square image: ``left`` fills the left half, ``right`` the right half.

    Each photo is centre-cropped to its half's shape (``size`` high, ``size // 2`` wide on the
    left, the rest on the right) and resized, so neither is distorted. A test image with two
    objects in known places: the left half holds the first, columns ``size // 2`` and up the
    second.

    Args:
        left, right: anything ``load_image`` accepts (a sample name such as 'cat', a path, a
            URL, a PIL image or an array).
        size: side of the square result in pixels, at least 2.

    Returns:
        (size, size, 3) RGB ``uint8``.
    """
    if int(size) < 2:
        raise ValueError(f"side_by_side needs a size of at least 2 pixels (one column per "
                         f"photo); got {size}.")
    half = size // 2
    return np.concatenate([cover(load_image(left), (size, half)),
                           cover(load_image(right), (size, size - half))], axis=1)


def deprocess_image(x, contrast: float = 0.15) -> np.ndarray:
    """Turn any float tensor shaped like an image into a displayable RGB ``uint8`` image.

    Optimized inputs live in the model's preprocessed space with arbitrary range. This
    centres them, scales by the standard deviation so that +-3.3 std spans the visible range,
    and clips. A constant input becomes mid-grey instead of dividing by zero.

    Args:
        x: array of shape (H, W, C) or (1, H, W, C), C = 1 or 3.
        contrast: standard deviations are multiplied by this before shifting to 0.5.

    Raises:
        ValueError: the tensor has the wrong shape or holds NaN / infinity.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3 or x.shape[-1] not in (1, 3):
        raise ValueError(
            f"deprocess_image expects one image (H, W, 1|3) or (1, H, W, 1|3); got {x.shape}."
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(
            "The tensor contains NaN or infinity, usually from a too large learning rate or a "
            "division by a zero gradient norm; lower the learning rate."
        )
    x = x - x.mean()
    std = x.std()
    x = x / std * contrast if std > 1e-12 else x
    image = np.clip(x + 0.5, 0.0, 1.0) * 255.0
    return to_rgb(image.round().astype(np.uint8))
