"""Paper Gestalt's analysis: the reviewer's accuracy and ROC on fresh pages, its Grad-CAM
evidence against the page masks, its figure channels, turning page images into inputs, and
the upload widget. The model itself is tested in test_gestalt_cnn.py."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from helpers import gestalt, pages

#: Seeds of the measuring pages: never used in training (gestalt.TRAIN_SEED + seed is).
FRESH = gestalt.FRESH_SEED + 17

#: The verdicts carry 10% reviewer noise, so about 90% is the ceiling against them; the
#: committed model scores 84.5% on these 400 pages (86.0% on the notebook's 600, see
#: data/README.md). The bound leaves room for retraining and the spread of 400 pages.
ACCURACY_BOUND = 0.80
#: Against the rule's own, noise-free verdicts the model must do better still (measured 94.5%).
DESERVED_BOUND = 0.90
#: Share of the bad pages caught where 15% of the good ones are lost (measured 83%; the paper
#: claimed 50%).
CAUGHT_BOUND = 0.7
#: Share of the "good" Grad-CAM mass on the rewarded elements (teaser and figures) of fresh
#: good pages, median over 40 pages (measured 59%, on elements covering about 22% of the
#: page: 2.7 times their area).
MASS_BOUND = 0.5
MASS_OVER_AREA_BOUND = 2.0


@pytest.fixture(scope="module")
def vm():
    return gestalt.load_model()


@pytest.fixture(scope="module")
def fresh():
    return pages.make_pages(400, seed=FRESH)


@pytest.fixture(scope="module")
def p_good(vm, fresh):
    return gestalt.good_probability(vm, fresh.images)


def test_accuracy_on_fresh_pages(fresh, p_good):
    said_good = p_good >= 0.5
    assert np.mean(said_good == fresh.labels) > ACCURACY_BOUND
    assert np.mean(said_good == fresh.deserved) > DESERVED_BOUND


def test_operating_point_loses_fifteen_percent_of_good_pages(fresh, p_good):
    point = gestalt.operating_point(p_good, fresh.labels)
    assert 0.13 <= point["good_lost"] <= 0.15
    assert point["bad_caught"] > CAUGHT_BOUND


def test_grad_cam_falls_on_the_rewarded_elements_of_good_pages(vm, fresh):
    good = np.flatnonzero((fresh.deserved == 1) & (fresh.labels == 1))[:40]
    shares = gestalt.gradcam_shares(vm, fresh.images[good], fresh.rewarded_mask()[good])
    area = fresh.rewarded_mask()[good].mean(axis=(1, 2))
    assert np.median(shares) > MASS_BOUND
    assert np.median(shares / area) > MASS_OVER_AREA_BOUND  # an even map would score 1


def test_roc_of_a_perfect_and_a_useless_reviewer():
    labels = np.array([0, 0, 0, 1, 1, 1])
    lost, caught, thresholds = gestalt.roc_curve([0.1, 0.2, 0.3, 0.7, 0.8, 0.9], labels)
    assert (lost[0], caught[0], lost[-1], caught[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(lost) >= 0) and np.all(np.diff(caught) >= 0)
    assert gestalt.auc(lost, caught) == pytest.approx(1.0)
    lost, caught, _ = gestalt.roc_curve(np.full(6, 0.5), labels)
    assert gestalt.auc(lost, caught) == pytest.approx(0.5)


def test_operating_point_by_hand():
    # good pages score 0.2, 0.6, 0.7, 0.8, 0.9 (rejecting 0.2 loses 20%); bad 0.1, 0.3, 0.65
    p = [0.2, 0.6, 0.7, 0.8, 0.9, 0.1, 0.3, 0.65]
    labels = [1, 1, 1, 1, 1, 0, 0, 0]
    point = gestalt.operating_point(p, labels, good_lost=0.2)
    assert point["good_lost"] == pytest.approx(0.2)
    assert point["bad_caught"] == pytest.approx(2 / 3)  # 0.1 and 0.3 are below 0.6
    assert gestalt.operating_point(p, labels, good_lost=0.0)["good_lost"] == 0.0


@pytest.mark.parametrize("p, labels, message", [
    ([0.2, 0.4], [1], "2 scores for 1 labels"),
    ([0.2, np.nan], [1, 0], "NaN"),
    ([0.2, 0.4], [1, 1], "both good and bad"),
    ([0.2, 0.4], [1, 2], "1 \\(good\\) or 0 \\(bad\\)"),
])
def test_roc_rejects_bad_scores(p, labels, message):
    with pytest.raises(ValueError, match=message):
        gestalt.roc_curve(p, labels)


def test_operating_point_rejects_a_share_outside_zero_one():
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        gestalt.operating_point([0.1, 0.9], [0, 1], good_lost=15)


def test_to_page_pads_to_letter_and_shrinks():
    wide = np.zeros((100, 400, 3), dtype=np.uint8)  # a black landscape strip
    page = gestalt.to_page(wide)
    assert page.shape == pages.PAGE_SIZE + (3,) and page.dtype == np.uint8
    assert (page[:20] == 255).all() and (page[-20:] == 255).all()  # white above and below
    assert (page[pages.PAGE_SIZE[0] // 2] < 5).all()
    np.testing.assert_array_equal(gestalt.to_page(page), page)  # a page stays a page


def test_to_page_reads_uploaded_bytes():
    buffer = io.BytesIO()
    Image.fromarray(np.full((220, 170, 3), 200, dtype=np.uint8)).save(buffer, "PNG")
    page = gestalt.to_page(buffer.getvalue())
    assert page.shape == pages.PAGE_SIZE + (3,) and (page == 200).all()


def test_to_page_refuses_what_is_not_an_image():
    with pytest.raises(ValueError, match="pdftoppm"):
        gestalt.to_page(b"%PDF-1.7 not an image")


def test_good_probability_wants_pages(vm):
    with pytest.raises(ValueError, match="to_page"):
        gestalt.good_probability(vm, np.zeros((2, 96, 96, 3), dtype=np.uint8))


def test_paper_page_is_a_letter_page():
    image = gestalt.paper_page("A title", "An author", "Some words.\n\nMore words.", dpi=20)
    assert image.shape == (220, 170, 3) and image.dtype == np.uint8
    assert image.min() < 100 and np.median(image) == 255  # ink on white paper
    with pytest.raises(ValueError, match="some text"):
        gestalt.paper_page("A title", "An author", "  ")


def test_upload_widget_scores_an_uploaded_page(vm, monkeypatch):
    import datetime

    import matplotlib.pyplot as plt

    from helpers import widgets

    drawn = []
    render = widgets.figure_png
    monkeypatch.setattr(widgets, "figure_png", lambda fig: drawn.append(fig) or render(fig))
    box = gestalt.upload_widget(vm)
    (upload, button), status, out = box.children[0].children, *box.children[1:]
    button.click()
    assert "Choose a page image first" in out.outputs[0]["text"]
    buffer = io.BytesIO()
    Image.fromarray(pages.make_pages(1, seed=3).images[0]).save(buffer, "PNG")
    upload.value = ({"name": "page.png", "type": "image/png", "size": len(buffer.getvalue()),
                     "content": memoryview(buffer.getvalue()),
                     "last_modified": datetime.datetime.now()},)
    button.click()
    (picture,) = out.outputs  # the verdict replaced the message
    (figure,) = drawn
    assert figure not in map(plt.figure, plt.get_fignums())  # drawn off pyplot: thread-safe
    assert len(figure.axes) == 3 and "P(good)" in figure.axes[1].get_title()
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(picture["data"]["image/png"]))))
    assert shown.std() > 10 and status.value.startswith("scored in")


@pytest.mark.parametrize("masks, cls, message", [
    (np.zeros((2, 11, 8), bool), "good", "same shape"),
    (np.zeros((2,) + pages.PAGE_SIZE, bool), "great", "great"),
])
def test_gradcam_shares_rejects_bad_masks_and_classes(vm, masks, cls, message):
    images = pages.make_pages(2, seed=4).images
    with pytest.raises(ValueError, match=message):
        gestalt.gradcam_shares(vm, images, masks, cls)


def test_one_page_gives_one_result_and_a_batch_a_batch(vm, fresh):
    images, masks = fresh.images[:3], fresh.rewarded_mask()[:3]
    p_good = gestalt.good_probability(vm, images)
    assert isinstance(gestalt.good_probability(vm, images[0]), float)
    assert gestalt.good_probability(vm, images[0]) == pytest.approx(p_good[0], abs=1e-6)
    heat = gestalt.page_grad_cam(vm, images)
    assert heat.shape == (3,) + pages.PAGE_SIZE
    np.testing.assert_allclose(gestalt.page_grad_cam(vm, images[0]), heat[0], atol=1e-5)
    shares = gestalt.gradcam_shares(vm, images, masks)
    assert shares.shape == (3,)
    assert gestalt.gradcam_shares(vm, images[0], masks[0]) == pytest.approx(shares[0], abs=1e-5)


def test_a_vis_model_and_its_keras_model_give_the_same_answers(vm, fresh):
    images, masks = fresh.images[:4], fresh.mask("table")[:4]
    np.testing.assert_allclose(gestalt.good_probability(vm.model, images),
                               gestalt.good_probability(vm, images), atol=1e-6)
    np.testing.assert_allclose(gestalt.gradcam_shares(vm.model, images, masks, "bad"),
                               gestalt.gradcam_shares(vm, images, masks, "bad"), atol=1e-6)


def test_classes_by_name_equal_classes_by_index_one_for_all_or_one_per_page(vm, fresh):
    images, masks = fresh.images[:4], fresh.rewarded_mask()[:4]
    by_name = gestalt.gradcam_shares(vm, images, masks, "bad")
    np.testing.assert_allclose(gestalt.gradcam_shares(vm, images, masks, 0), by_name)
    mixed = gestalt.gradcam_shares(vm, images, masks, ["good", "bad", "good", "bad"])
    good = gestalt.gradcam_shares(vm, images, masks, "good")
    np.testing.assert_allclose(mixed[[0, 2]], good[[0, 2]])
    np.testing.assert_allclose(mixed[[1, 3]], by_name[[1, 3]])


def test_good_probability_wants_pages_from_a_keras_model_too(vm):
    with pytest.raises(ValueError, match="to_page"):
        gestalt.good_probability(vm.model, np.zeros((96, 96, 3), dtype=np.uint8))


def test_cell_cover_by_hand():
    mask = np.zeros((1, 4, 6), bool)
    mask[0, :2, :3] = True  # the top-left cell of a 2 x 2 grid of 2 x 3 cells
    mask[0, 2, 3] = True  # one pixel of six in the bottom-right cell
    np.testing.assert_allclose(gestalt.cell_cover(mask, (2, 2))[0], [[1, 0], [0, 1 / 6]])
    with pytest.raises(ValueError, match="does not split"):
        gestalt.cell_cover(mask, (3, 2))


def test_channel_selectivity_finds_planted_figure_and_text_channels():
    figures = np.zeros((2, 4, 4), bool)
    figures[:, :2] = True  # the top row of a 2 x 2 grid is figure, the bottom row text
    text = ~figures
    maps = np.zeros((2, 2, 2, 3), np.float32)
    maps[:, 0, :, 0] = 2.0  # channel 0 fires on figures only
    maps[:, 1, :, 1] = 1.0  # channel 1 on text only
    maps[..., 2] = 0.5  # channel 2 everywhere alike
    found = gestalt.channel_selectivity(maps, figures, text)
    np.testing.assert_allclose(found["on_figures"], [2, 0, 0.5])
    np.testing.assert_allclose(found["on_text"], [0, 1, 0.5])
    np.testing.assert_allclose(found["selectivity"], [1, -1, 0], atol=1e-5)


def test_show_roc_and_its_thumbnail(fresh, p_good):
    import matplotlib.pyplot as plt

    fig = gestalt.show_roc(p_good, fresh.labels, fresh.deserved)
    roc, hist = fig.axes
    assert len(roc.lines) == 5 and len(hist.patches) == 50  # 2 curves, chance, 2 points
    plt.close(fig)
    thumbnail = gestalt.roc_thumbnail(p_good, fresh.labels)
    assert thumbnail.shape == (340, 400, 3) and thumbnail.dtype == np.uint8
    assert thumbnail.min() < 100 and np.median(thumbnail) == 255


def test_show_verdict_takes_a_keras_model_and_any_page_image(vm, fresh):
    import matplotlib.pyplot as plt

    wide = np.kron(fresh.images[0], np.ones((2, 2, 1), np.uint8))  # a page at twice the size
    p_good = gestalt.show_verdict(vm.model, wide, "a page")
    assert p_good == pytest.approx(gestalt.good_probability(vm, gestalt.to_page(wide)))
    assert "P(good)" in plt.gcf().axes[1].get_title()
    plt.close("all")
