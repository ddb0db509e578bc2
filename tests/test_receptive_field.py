import keras
import numpy as np
import pytest

from helpers import receptive_field as rf
from helpers.shapes_cnn import build_model


@pytest.fixture(scope="module")
def hand_model():
    """A chain whose geometry is worked out by hand in test_hand_computed_case."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(2, 3, padding="same", name="c1")(inputs)
    x = keras.layers.ReLU(name="c1_relu")(x)
    x = keras.layers.Conv2D(2, 5, strides=2, padding="valid", name="c2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(2, 3, dilation_rate=2, padding="same", name="c3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x))


def test_hand_computed_case(hand_model):
    # r_out = r_in + (k_eff - 1) * jump_in, jump_out = jump_in * stride, where
    # k_eff = dilation * (k - 1) + 1; 'same' pads (k_eff - 1) // 2 before when stride is 1.
    #   c1   3x3 same:          r = 3,                  jump 1, first pixel -1 (padding)
    #   c2   5x5 stride 2:      r = 3 + 4 * 1 = 7,      jump 2, output (32 - 5) // 2 + 1 = 14
    #   pool 2x2 stride 2:      r = 7 + 1 * 2 = 9,      jump 4, output 7
    #   c3   3x3 dilation 2:    r = 9 + 4 * 4 = 25,     jump 4, pads 2 units: first -1 - 2 * 4
    #   gap  7x7 window:        r = 25 + 6 * 4 = 49
    rows = {row.name: row for row in rf.layer_table(hand_model)}
    assert list(rows) == ["c1", "c2", "pool", "c3", "gap"]
    assert [rows[n].receptive_field[0] for n in rows] == [3, 7, 9, 25, 49]
    assert [rows[n].jump[0] for n in rows] == [1, 2, 4, 4, 4]
    assert [rows[n].first[0] for n in rows] == [-1, -1, -1, -9, -9]
    assert [rows[n].output for n in rows] == [(32, 32, 2), (14, 14, 2), (7, 7, 2), (7, 7, 2),
                                              (1, 1, 2)]
    assert rows["c3"].kernel == (5, 5) and rows["c2"].stride == (2, 2)
    assert rows["c2"].patch(13, 13) == (25, 25, 31, 31)  # the last unit ends at the last pixel


def test_shapes_model_matches_hand_arithmetic():
    rows = {row.name: row for row in rf.layer_table(build_model())}
    # 3 -> pool 4 -> 8, 12 -> pool 14 -> 22, 30 -> pool 34 -> 50, 66
    assert rows["block1_conv1"].receptive_field == (3, 3)
    assert rows["block2_conv2"].receptive_field == (12, 12)
    assert rows["block3_conv2"].receptive_field == (30, 30)
    assert rows["block4_conv2"].receptive_field == (66, 66)
    assert rows["block4_conv2"].output == (12, 12, 64) and rows["block4_conv2"].jump == (8, 8)


def test_mobilenet_depthwise_zero_padding_and_strides():
    model = keras.applications.MobileNet(weights=None, alpha=0.25)
    rows = {row.name: row for row in rf.layer_table(model)}
    # conv1 3x3/2 'same' on 224 pads 0 before, 1 after; conv_pad_2 pads (0, 1); both put
    # the extra row after the image, so the first unit's patch starts where conv_dw_1 put it.
    assert rows["conv1"].first == (0, 0) and rows["conv1"].receptive_field == (3, 3)
    assert rows["conv_dw_1"].receptive_field == (7, 7) and rows["conv_dw_1"].first == (-2, -2)
    assert rows["conv_dw_2"].receptive_field == (11, 11) and rows["conv_dw_2"].first == (-2, -2)
    assert rows["conv_dw_2"].output == (56, 56, 16) and rows["conv_dw_2"].jump == (4, 4)
    assert rows["conv_pw_2"].receptive_field == (11, 11)  # a 1x1 conv adds nothing
    assert rows["conv_dw_2"].kind == "depthwise" and rows["conv_pw_2"].kind == "conv"
    assert rows["conv_pw_13"].receptive_field == (315, 315)  # Araujo et al., Distill 2019


def test_vgg16_matches_published_receptive_fields():
    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(224, 224, 3))
    rows = {row.name: row for row in rf.layer_table(model)}
    assert rows["block5_conv3"].receptive_field == (196, 196)
    assert rows["block5_pool"].receptive_field == (212, 212)  # Araujo et al., Distill 2019
    assert rows["block5_pool"].output == (7, 7, 512)


def test_named_layers_and_one_per_scale():
    model = build_model()
    assert rf.last_layer_per_scale(model) == ["block1_conv1", "block2_conv2", "block3_conv2",
                                              "block4_conv2"]
    rows = rf.layer_table(model, layers=["block3_conv2", "block1_pool"])
    assert [r.name for r in rows] == ["block3_conv2", "block1_pool"]
    assert rows[1].receptive_field == (4, 4)


def test_a_vis_model_is_accepted(shapes_model):
    by_vm = rf.layer_table(shapes_model, layers=["block4_conv2"])
    assert by_vm == rf.layer_table(shapes_model.model, layers=["block4_conv2"])
    assert rf.receptive_field(shapes_model, "block4_conv2") == (66, 66)
    assert rf.last_layer_per_scale(shapes_model) == rf.last_layer_per_scale(shapes_model.model)


def test_relu_layer_has_its_convolutions_geometry(hand_model):
    (relu,) = rf.layer_table(hand_model, layers=["c1_relu"])
    assert relu.receptive_field == (3, 3) and relu.kind == "ReLU" and relu.kernel == (1, 1)


def test_skip_connection_takes_the_union():
    inputs = keras.Input((16, 16, 1))
    wide = keras.layers.Conv2D(1, 5, padding="same", name="wide")(inputs)
    narrow = keras.layers.Conv2D(1, 1, name="narrow")(inputs)
    added = keras.layers.Add(name="add")([narrow, wide])
    out = keras.layers.Conv2D(1, 3, padding="same", name="after")(added)
    rows = {r.name: r for r in rf.layer_table(keras.Model(inputs, out))}
    assert rows["narrow"].receptive_field == (1, 1)
    assert rows["after"].receptive_field == (7, 7)  # 5 (the wider branch) + 2


def test_non_square_kernels_and_strides():
    inputs = keras.Input((20, 30, 1))
    out = keras.layers.Conv2D(1, (3, 5), strides=(1, 2), padding="valid", name="c")(inputs)
    out = keras.layers.Conv2D(1, 3, padding="valid", name="d")(out)
    rows = {r.name: r for r in rf.layer_table(keras.Model(inputs, out))}
    assert rows["d"].receptive_field == (5, 9) and rows["d"].jump == (1, 2)
    assert rows["d"].output == (16, 11, 1)


def test_format_table_and_image_share():
    rows = rf.layer_table(build_model())
    text = rf.format_table(rows, 96)
    line = next(l for l in text.splitlines() if l.startswith("block4_conv2"))
    assert "12x12x64" in line and "66 px" in line and "9,216" in line
    assert line.rstrip().endswith("47%")  # (66 / 96) ** 2 of the image
    first = next(r for r in rows if r.name == "block1_conv1")
    assert rf.image_share(first, 96) == pytest.approx(9 / 96 ** 2)


def test_show_receptive_fields_draws_one_square_per_layer():
    model = build_model()
    rows = rf.layer_table(model, layers=rf.last_layer_per_scale(model))
    ax = rf.show_receptive_fields(np.zeros((96, 96, 3), np.uint8), rows)
    assert len(ax.patches) == 4
    assert ax.patches[-1].get_width() == 66


def _upsampling_model():
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, keras.layers.UpSampling2D(name="up")(inputs))


def _any_size_model():
    inputs = keras.Input((None, None, 3))
    return keras.Model(inputs, keras.layers.Conv2D(1, 3)(inputs))


@pytest.mark.parametrize("make, kwargs, message", [
    (lambda: build_model(), {"layers": ["block9_conv1"]}, "no layer 'block9_conv1'.*Closest"),
    (lambda: build_model(), {"layers": ["logits"]}, "not a spatial.*Pick a convolutional"),
    (_upsampling_model, {}, "'up'.*enlarges the map"),
    (_any_size_model, {}, "any image size; pass input_size"),
])
def test_bad_input_is_explained(make, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rf.layer_table(make(), **kwargs)


def test_any_size_model_with_input_size():
    (row,) = rf.layer_table(_any_size_model(), input_size=(10, 12))
    assert row.output[:2] == (8, 10) and row.receptive_field == (3, 3)


@pytest.mark.parametrize("call, message", [
    (lambda row: row.patch(12, 0), r"outside block4_conv2's 12x12 output; rows are 0 to 11"),
    (lambda row: rf.show_receptive_fields(np.zeros((96, 96, 3)), [row], unit="middle"),
     "'center' or 'corner'"),
])
def test_bad_unit_is_explained(call, message):
    (row,) = rf.layer_table(build_model(), layers=["block4_conv2"])
    with pytest.raises(ValueError, match=message):
        call(row)
