import io

import numpy as np
import pytest
from PIL import Image

from helpers.images import (SAMPLE_IMAGES, cover, deprocess_image, load_image, resize,
                            resize_maps, side_by_side, to_rgb)


@pytest.mark.parametrize("name", list(SAMPLE_IMAGES))
def test_samples_load_as_rgb_uint8(name):
    image = load_image(name)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3
    assert image.std() > 10  # a real photo, not a blank


def test_load_resizes_to_square_or_pair():
    assert load_image("cat", size=64).shape == (64, 64, 3)
    assert load_image("cat", size=(32, 48)).shape == (32, 48, 3)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA", "I;16", "CMYK", "1"])
def test_pil_modes_become_rgb(tmp_path, mode):
    base = Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 10, 3), dtype=np.uint8))
    image = base.convert(mode) if mode != "I;16" else Image.fromarray(
        (np.arange(80, dtype=np.uint16).reshape(8, 10) * 800))
    path = tmp_path / "x.png" if mode != "CMYK" else tmp_path / "x.jpg"
    image.save(path) if mode != "CMYK" else image.save(path, "JPEG")
    out = load_image(path)
    assert out.shape == (8, 10, 3) and out.dtype == np.uint8


def test_sixteen_bit_scaled_to_full_range():
    out = to_rgb(np.array([[0, 65535]], dtype=np.uint16))
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 255


def test_rgba_composited_on_white():
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)  # black, fully transparent
    assert (to_rgb(rgba) == 255).all()


def test_float_image_in_unit_range():
    out = to_rgb(np.full((3, 3), 0.5))
    assert out.shape == (3, 3, 3) and out[0, 0, 0] == 128


def test_load_array_and_pil_image():
    array = np.zeros((5, 6, 3), dtype=np.uint8)
    assert load_image(array).shape == (5, 6, 3)
    assert load_image(Image.fromarray(array)).shape == (5, 6, 3)


@pytest.mark.parametrize("bad, error, words", [
    ("no/such/file.jpg", FileNotFoundError, "No image file"),
    ("catt", FileNotFoundError, "sample photos"),
    (np.zeros((2, 2, 2)), ValueError, "must be (H, W)"),
    (np.zeros((1, 4, 4, 3)), ValueError, "one image at a time"),
    (np.full((2, 2), np.nan), ValueError, "NaN"),
    (3.5, TypeError, "Cannot load an image from a float"),
])
def test_bad_inputs_have_clear_errors(bad, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_image(bad)


def test_not_an_image_file(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("hello")
    with pytest.raises(ValueError, match="not an image file"):
        load_image(path)


def test_unreachable_url_fails_fast():
    with pytest.raises(ConnectionError, match="Could not download"):
        load_image("http://127.0.0.1:9/cat.jpg")  # loopback port with nothing listening


def test_resize_rejects_non_positive():
    with pytest.raises(ValueError, match="positive"):
        resize(np.zeros((4, 4, 3), np.uint8), 0)


@pytest.mark.parametrize("tensor", [
    np.random.default_rng(0).normal(size=(8, 8, 3)) * 1e6,
    np.full((1, 8, 8, 3), 7.0),  # constant: no division by zero
    np.zeros((8, 8, 1)),
])
def test_deprocess_gives_valid_uint8(tensor):
    out = deprocess_image(tensor)
    assert out.dtype == np.uint8 and out.shape == (8, 8, 3)


def test_deprocess_constant_is_mid_grey_and_varied_input_uses_range():
    assert (deprocess_image(np.full((4, 4, 3), -3.0)) == 128).all()
    varied = deprocess_image(np.linspace(-1, 1, 48).reshape(4, 4, 3))
    assert varied.min() < 100 < 160 < varied.max()


def test_deprocess_rejects_nan_and_bad_shape():
    with pytest.raises(ValueError, match="NaN"):
        deprocess_image(np.full((4, 4, 3), np.nan))
    with pytest.raises(ValueError, match="expects one image"):
        deprocess_image(np.zeros((2, 4, 4, 3)))


def test_jpeg_bytes_roundtrip(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (7, 5), (10, 200, 30)).save(buffer, "PNG")
    path = tmp_path / "g.png"
    path.write_bytes(buffer.getvalue())
    assert tuple(load_image(path)[0, 0]) == (10, 200, 30)


def test_cover_crops_the_centre_instead_of_squeezing():
    wide = np.zeros((40, 80, 3), np.uint8)
    wide[:, 30:50] = 255                         # a white band: the central quarter
    np.testing.assert_array_equal(cover(wide, (40, 20)), 255)
    tall = np.zeros((80, 40, 3), np.uint8)
    tall[30:50] = 255
    np.testing.assert_array_equal(cover(tall, (20, 40)), 255)
    assert cover(wide, 10).shape == (10, 10, 3)


def test_side_by_side_puts_each_photo_in_its_half():
    red = np.zeros((30, 50, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((60, 20, 3), np.uint8)
    blue[..., 2] = 255
    pair = side_by_side(red, blue, size=33)      # odd: the right half gets the extra column
    assert pair.shape == (33, 33, 3) and pair.dtype == np.uint8
    np.testing.assert_array_equal(pair[:, :16], np.broadcast_to([255, 0, 0], (33, 16, 3)))
    np.testing.assert_array_equal(pair[:, 16:], np.broadcast_to([0, 0, 255], (33, 17, 3)))


def test_side_by_side_of_two_sample_photos():
    pair = side_by_side("cat", "coffee")
    assert pair.shape == (224, 224, 3)
    # the cat's half is the centre of the cat photo, not a squeezed copy of all of it
    cat = load_image("cat")
    rows, cols = cat.shape[:2]
    centre = cat[:, (cols - rows // 2) // 2:(cols + rows // 2) // 2]
    np.testing.assert_allclose(pair[:, :112].mean(axis=(0, 1)), centre.mean(axis=(0, 1)), atol=3)


@pytest.mark.parametrize("call, message", [
    (lambda: side_by_side("cat", "coffee", size=1), "at least 2"),
    (lambda: cover(np.zeros((4, 4, 3), np.uint8), (0, 4)), "positive"),
    (lambda: side_by_side("catt", "coffee"), "sample photos"),
])
def test_side_by_side_bad_input_is_named(call, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        call()


def test_resize_maps_keeps_float_values_for_one_map_or_a_batch():
    ramp = np.linspace(0.0, 1.0, 8, dtype=np.float32)[None].repeat(4, axis=0)
    one = resize_maps(ramp, (8, 16))
    assert one.shape == (8, 16) and one.dtype == np.float32
    assert 0 < one[0, 1] < one[0, 2] < 0.2  # a ramp stays a ramp, not rounded to pixels
    batch = resize_maps(np.stack([ramp, 2 * ramp]), 12)
    assert batch.shape == (2, 12, 12)
    np.testing.assert_allclose(batch[1], 2 * batch[0], rtol=1e-5)
    with pytest.raises(ValueError, match=r"a map \(h, w\) or a batch"):
        resize_maps(np.zeros((1, 2, 2, 2)), 4)
