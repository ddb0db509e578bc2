"""Stimuli: arcs, lines and edges are where and how their orientation says."""

import numpy as np
import pytest

from helpers import stimuli


def centroid(image):
    """(x, y) of the image's mass relative to the centre, y pointing down."""
    y, x = np.mgrid[0:image.shape[0], 0:image.shape[1]] - (image.shape[0] - 1) / 2
    return np.array([(x * image).sum(), (y * image).sum()]) / image.sum()


@pytest.mark.parametrize("size", [9, 33, 96, 224])
def test_any_size_gives_values_in_unit_range(size):
    for image in (stimuli.arc(size, 30, size / 6), stimuli.line(size, 30),
                  stimuli.edge(size, 30)):
        assert image.shape == (size, size) and image.dtype == np.float32
        assert 0 <= image.min() and image.max() <= 1 and image.max() > 0.9


@pytest.mark.parametrize("radius", [4.0, 8.0, 16.0, np.inf])
@pytest.mark.parametrize("orientation", [0, 45, 105, 270])
def test_arc_passes_through_centre_and_bulges_towards_orientation(orientation, radius):
    image = stimuli.arc(41, orientation, radius)
    assert image[20, 20] > 0.9  # odd size: the centre is a pixel
    along = centroid(image) @ stimuli.direction(orientation)
    if np.isinf(radius):
        assert abs(along) < 0.5
    else:
        assert along < -0.5  # the mass lies behind the bulge, towards the circle's centre


def test_orientation_is_counter_clockwise_on_screen():
    for make in (lambda o: stimuli.arc(31, o, 6.0), lambda o: stimuli.edge(31, o)):
        np.testing.assert_allclose(make(120), np.rot90(make(30)), atol=1e-5)


def test_line_at_zero_degrees_is_vertical_and_edge_is_bright_on_its_side():
    line = stimuli.line(21, 0)
    assert line[:, 10].sum() > 5 and line[:, 0].sum() == 0
    up = stimuli.edge(21, 90)
    assert up[0].mean() == 1.0 and up[-1].mean() == 0.0
    right = stimuli.edge(21, 0)
    assert right[:, -1].mean() == 1.0 and right[:, 0].mean() == 0.0


def test_grating_has_its_period_across_its_orientation():
    wave = stimuli.grating(33, 0, period=8)
    assert wave.dtype == np.float32 and 0 <= wave.min() and wave.max() <= 1
    assert wave[16, 16] == pytest.approx(1.0)  # a bright stripe through the centre
    np.testing.assert_allclose(wave[:, :25], wave[:, 8:], atol=1e-6)  # repeats every 8 px
    np.testing.assert_allclose(wave, wave[:1].repeat(33, axis=0))  # 0 degrees: vertical stripes
    np.testing.assert_allclose(stimuli.grating(33, 90, period=8), np.rot90(wave), atol=1e-5)


def test_flat_field():
    assert (stimuli.flat(9, 0.25) == 0.25).all() and stimuli.flat(9).shape == (9, 9)


def test_tight_arcs_stay_open():
    image = stimuli.arc(41, 0, 3.0, length=100)  # longer than the circle: cut at 270 degrees
    x0 = 20 - 3  # circle centre is 3 px left of the image centre
    assert image[20, x0 - 3] < 0.1  # the gap lies opposite the bulge


def test_curves_grid_and_default_radii():
    grid = stimuli.curves(48)
    assert grid.images.shape == (4, 24, 48, 48)
    assert grid.radii == (3.0, 6.0, 12.0, np.inf)
    assert list(grid.curved) == [True, True, True, False]
    assert list(grid.orientations[:3]) == [0, 15, 30]
    np.testing.assert_array_equal(grid.images[1, 2], stimuli.arc(48, 30, 6.0))
    assert stimuli.edges(20).shape == (24, 20, 20)


def test_to_rgb_colours():
    rgb = stimuli.to_rgb(np.array([[0.0, 1.0, 0.5]]), foreground=(255, 0, 0),
                         background=(0, 0, 255))
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 3, 3)
    assert rgb[0, 0].tolist() == [0, 0, 255] and rgb[0, 1].tolist() == [255, 0, 0]
    assert rgb[0, 2].tolist() == [128, 0, 128]


@pytest.mark.parametrize("call, match", [
    (lambda: stimuli.arc(4, 0, 2), "at least 8"),
    (lambda: stimuli.arc(20.5, 0, 2), "integer"),
    (lambda: stimuli.arc(20, 0, 0), "positive"),
    (lambda: stimuli.arc(20, 0, 5, width=-1), "positive"),
    (lambda: stimuli.edge(20, 0, softness=0), "softness"),
    (lambda: stimuli.grating(20, 0, period=1.5), "period must be at least 2"),
    (lambda: stimuli.flat(20, 1.5), r"level must lie in \[0, 1\]"),
    (lambda: stimuli.curves(20, radii=()), "at least one"),
    (lambda: stimuli.to_rgb(np.full((3, 3), 2.0)), r"\[0, 1\]"),
    (lambda: stimuli.to_rgb(np.zeros(3)), "shape"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
