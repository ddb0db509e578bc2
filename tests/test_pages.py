"""The synthetic pages: drawn where their masks say, judged by the documented rule."""

import numpy as np
import pytest

from helpers import pages
from helpers.page_layout import Page
from helpers.pages import ELEMENTS, PAGE_SIZE, Rule, make_pages


@pytest.fixture(scope="module")
def batch():
    return make_pages(60, seed=77)


def dilate(mask, reach):
    """Boolean dilation by a (2 reach + 1)-pixel square, over the last two axes."""
    out = mask.copy()
    for axis in (-2, -1):
        grown = out.copy()
        for shift in range(1, reach + 1):
            for sign in (1, -1):
                grown |= np.roll(out, sign * shift, axis=axis)
        out = grown
    return out


def ink(batch):
    """(N, H, W) where the page is not blank paper."""
    return (batch.images != batch.paper[:, None, None, :]).any(axis=-1)


def test_shapes_and_types(batch):
    n = len(batch)
    assert batch.images.shape == (n,) + PAGE_SIZE + (3,) and batch.images.dtype == np.uint8
    assert batch.masks.shape == (n, len(ELEMENTS)) + PAGE_SIZE and batch.masks.dtype == bool
    assert batch.labels.shape == batch.deserved.shape == batch.score.shape == (n,)
    assert set(np.unique(batch.labels)) <= {0, 1}


def test_same_seed_same_pages_whatever_the_count():
    a, b = make_pages(3, seed=5), make_pages(5, seed=5)
    np.testing.assert_array_equal(a.images, b.images[:3])
    np.testing.assert_array_equal(a.elements, b.elements[:3])
    np.testing.assert_array_equal(a.labels, b.labels[:3])
    assert not np.array_equal(a.images, make_pages(3, seed=6).images)


def test_everything_drawn_lies_inside_a_mask(batch):
    outside = ink(batch) & ~batch.masks.any(axis=1)
    assert outside.sum() == 0, f"{outside.sum()} inked pixels belong to no element"


def test_line_masks_hug_their_ink(batch):
    """Title and text masks cover lines of words: each of their pixels is within 2 px of
    ink of the same element (a word gap, or a line's faint anti-aliased edge)."""
    drawn = ink(batch)
    for kind in ("title", "text"):
        mask = batch.mask(kind)
        stray = mask & ~dilate(drawn & mask, 2)
        assert stray.sum() == 0, f"{kind} mask claims {stray.sum()} pixels of blank paper"


@pytest.mark.parametrize("kind", ["equation", "table", "teaser", "figure"])
def test_element_boxes_are_tight(batch, kind):
    """Boxes (figures, tables, equations) hold ink in every row and column, up to 2 px
    (a gap between panels, the blank row under a table's rule)."""
    drawn = ink(batch)
    mask = batch.mask(kind)
    for axis in (2, 1):  # rows, then columns
        has_box = mask.any(axis=axis)
        has_ink = (drawn & mask).any(axis=axis)
        empty = has_box & ~dilate(has_ink[:, None], 2)[:, 0]
        assert empty.sum() == 0, f"{kind} boxes have {empty.sum()} lines without ink"


@pytest.mark.parametrize("seed", [0, 1])
def test_masks_never_overlap_while_drawing(seed):
    page = Page(np.random.default_rng([seed, 3]))
    page.render()
    assert page.masks.sum(axis=0).max() <= 1


def test_masks_agree_with_the_layout_counts(batch):
    present = batch.masks.any(axis=(2, 3))
    f = batch.features
    assert np.array_equal(present[:, ELEMENTS.index("teaser")], f["teaser"] > 0)
    assert np.array_equal(present[:, ELEMENTS.index("figure")], f["figures"] > 0)
    assert np.array_equal(present[:, ELEMENTS.index("table")], f["tables"] > 0)
    assert np.array_equal(present[:, ELEMENTS.index("equation")], f["equations"] > 0)
    assert present[:, ELEMENTS.index("title")].all() and present[:, ELEMENTS.index("text")].all()


def test_colourful_teasers_are_colourful_and_grey_ones_grey(batch):
    rgb = batch.images.astype(np.int16)
    chroma = rgb.max(axis=-1) - rgb.min(axis=-1)  # 0 for grey
    teaser = batch.mask("teaser")
    for i in np.flatnonzero(batch.features["teaser"] > 0):
        spread = chroma[i][teaser[i]].mean()
        if batch.features["teaser"][i] == 2:
            assert spread > 40, f"page {i}: colourful teaser has chroma {spread:.0f}"
        else:  # grey panels, on paper that may be slightly cream
            assert spread < 8, f"page {i}: grey teaser has chroma {spread:.0f}"


def test_teaser_sits_below_the_title_and_spans_the_page(batch):
    title, teaser = batch.mask("title"), batch.mask("teaser")
    for i in np.flatnonzero(batch.features["teaser"] > 0):
        rows, cols = np.nonzero(teaser[i])
        text_cols = np.nonzero(batch.mask("text")[i])[1]
        assert rows.min() > np.nonzero(title[i])[0].max()
        assert cols.max() - cols.min() >= 0.8 * (text_cols.max() - text_cols.min())


def test_the_layouts_vary(batch):
    f = batch.features
    assert set(f["columns"]) == {1, 2}
    assert set(f["teaser"]) == {0, 1, 2}
    assert f["figures"].max() >= 2 and f["tables"].max() >= 1 and f["equations"].max() >= 2
    assert 0.25 < batch.deserved.mean() < 0.65


def test_rule_scores_the_documented_points():
    rule = Rule()
    features = {"teaser": np.array([2, 1, 1, 0, 0, 0, 2]),
                "figures": np.array([0, 1, 0, 2, 5, 2, 0]),
                "tables": np.array([0, 0, 0, 0, 0, 1, 1]),
                "equations": np.array([0, 0, 3, 0, 0, 0, 0])}
    np.testing.assert_array_equal(rule.score(features), [2, 2, 1, 2, 2, 1, 1])
    assert rule.rewarded() == ("teaser", "figure") and rule.penalized() == ("table",)
    assert Rule(table=1.0).rewarded() == ("table", "teaser", "figure")


def test_verdicts_follow_the_rule_up_to_its_noise():
    clean = make_pages(200, seed=11, rule=Rule(noise=0.0))
    assert np.array_equal(clean.labels, clean.deserved)
    assert np.array_equal(clean.deserved, clean.score >= 2.0)
    noisy = make_pages(200, seed=11)
    np.testing.assert_array_equal(noisy.images, clean.images)  # the rule changes verdicts only
    flipped = np.mean(noisy.labels != noisy.deserved)
    assert 0.04 < flipped < 0.17, flipped  # Rule().noise = 0.1; binomial sd on 200 pages: 0.02


def test_a_changed_rule_changes_the_verdicts():
    default = make_pages(100, seed=12, rule=Rule(noise=0.0))
    tables_win = make_pages(100, seed=12, rule=Rule(noise=0.0, table=2.0))
    changed = default.deserved != tables_win.deserved
    assert changed.any() and (default.features["tables"][changed] > 0).all()


def test_colour_masks_paints_each_kind():
    batch = make_pages(1, seed=0)
    picture = pages.colour_masks(batch.masks[0])
    assert picture.shape == PAGE_SIZE + (3,)
    text = batch.mask("text")[0]
    np.testing.assert_allclose(picture[text], np.broadcast_to(pages.ELEMENT_COLOURS["text"],
                                                              (text.sum(), 3)))


@pytest.mark.parametrize("call, message", [
    (lambda: make_pages(0), "at least 1 page"),
    (lambda: make_pages(2, seed=-1), "non-negative"),
    (lambda: make_pages(2, rule="strict"), "pages.Rule"),
    (lambda: Rule(noise=0.5), r"\[0, 0.5\)"),
    (lambda: Rule(noise=-0.1), r"\[0, 0.5\)"),
    (lambda: Rule(max_figures=-1), "max_figures"),
    (lambda: pages.element_index("photo"), "Unknown page element 'photo'"),
    (lambda: make_pages(1).mask("plot"), "Unknown page element"),
    (lambda: pages.colour_masks(np.zeros((2, 5, 5))), "one page's masks"),
])
def test_bad_inputs_say_what_to_do(call, message):
    with pytest.raises(ValueError, match=message):
        call()
