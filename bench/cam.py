"""Grad-CAM speed: ``helpers.cam.grad_cam`` (compiled, batched) against the eager
GradientTape recipe of the common tutorials and against a plain forward pass of the same
model and batch; then Score-CAM's cost, one forward pass per channel.

Targets on a 2-core CPU, VGG16 at 224 px: at least 3x faster than the eager recipe and at
most 1.5x the forward pass. Random weights (``VGG16(weights=None)``): timing needs no
download. ``python -m bench cam --help`` lists the options.
"""

from __future__ import annotations

import argparse
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from helpers import cam, last_conv_layer


def tutorial_grad_cam(img_array, model, last_conv_layer_name, pred_index=None):
    """The eager recipe of the Keras example "Grad-CAM class activation visualization"
    (and of most tutorials), one image at a time, as published."""
    grad_model = keras.models.Model(
        model.inputs, [model.get_layer(last_conv_layer_name).output, model.output])
    with tf.GradientTape() as tape:
        last_conv_layer_output, preds = grad_model(img_array)
        if pred_index is None:
            pred_index = tf.argmax(preds[0])
        class_channel = preds[:, pred_index]
    grads = tape.gradient(class_channel, last_conv_layer_output)
    pooled_grads = tf.reduce_mean(grads, axis=(0, 1, 2))
    last_conv_layer_output = last_conv_layer_output[0]
    heatmap = last_conv_layer_output @ pooled_grads[..., tf.newaxis]
    heatmap = tf.squeeze(heatmap)
    heatmap = tf.maximum(heatmap, 0) / tf.math.reduce_max(heatmap)
    return heatmap.numpy()


def build_model(name: str, size: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    if name == "vgg16":
        return keras.applications.VGG16(weights=None, input_shape=(size, size, 3),
                                        classifier_activation=None)
    if name == "mobilenet":
        # alpha 1.0: the lecture's default network (helpers.lecture_model("mobilenet"))
        return keras.applications.MobileNet(weights=None, alpha=1.0, input_shape=(size, size, 3),
                                            classifier_activation=None)
    raise ValueError(f"Unknown model {name!r}; choose vgg16 or mobilenet.")


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench cam", description=__doc__)
    parser.add_argument("--model", default="vgg16", help="vgg16 (default) or mobilenet")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8, help="images per batch")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds; the best counts")
    parser.add_argument("--score-channels", type=int, default=16,
                        help="channels Score-CAM runs (0 = all); the time for all is "
                             "extrapolated from these")
    args = parser.parse_args(argv)
    # random weights leave some classes without positive evidence, and the published recipe
    # passes model.inputs as a list: both warn on every call and say nothing about speed
    warnings.filterwarnings("ignore", category=cam.EmptyHeatmapWarning)
    warnings.filterwarnings("ignore", message="The structure of `inputs`")

    model = build_model(args.model, args.size)
    layer = last_conv_layer(model)
    x = np.random.default_rng(0).uniform(-1, 1, (args.batch, args.size, args.size, 3))
    x = x.astype(np.float32)
    classes = np.arange(args.batch) % model.output_shape[-1]
    forward = tf.function(lambda batch: model(batch, training=False))
    tensor = tf.constant(x)

    runs = {
        "forward pass (compiled)": lambda: forward(tensor).numpy(),
        "Grad-CAM, helpers (compiled, batched)": lambda: cam.grad_cam(model, x, classes),
        "Grad-CAM, eager tutorial recipe": lambda: [
            tutorial_grad_cam(x[i:i + 1], model, layer, int(c)) for i, c in enumerate(classes)],
    }
    print(f"{args.model} at {args.size} px, random weights, batch of {args.batch}, layer "
          f"{layer}; best of {args.repeats} rounds (first calls, which trace, not counted)")
    first = {name: seconds(run) for name, run in runs.items()}
    best = {name: float("inf") for name in runs}
    for _ in range(args.repeats):  # interleaved, so load from other processes hits all alike
        for name, run in runs.items():
            best[name] = min(best[name], seconds(run))
    for name in runs:
        print(f"  {name:<40} {best[name]:7.3f} s   ({best[name] / args.batch * 1000:6.0f} ms "
              f"per image; first call {first[name]:.1f} s)")
    compiled = best["Grad-CAM, helpers (compiled, batched)"]
    eager = best["Grad-CAM, eager tutorial recipe"]
    print(f"  eager recipe / compiled Grad-CAM: {eager / compiled:5.2f}x   (target >= 3)")
    print(f"  compiled Grad-CAM / forward pass: {compiled / best['forward pass (compiled)']:5.2f}x"
          "   (target <= 1.5)")

    channels = model.get_layer(layer).output.shape[-1]
    used = channels if args.score_channels <= 0 else min(args.score_channels, channels)
    for warm in (1, 2):  # trace outside the clock: a second batch size relaxes the shapes
        cam.score_cam(model, x[0], classes[0], max_channels=min(used, warm))
    score = seconds(lambda: cam.score_cam(model, x[0], classes[0], max_channels=used))
    per_image = compiled / args.batch
    full = score * channels / used
    print(f"  Score-CAM, one image, {used} of {channels} channels: {score:.2f} s; all channels "
          f"{'measured' if used == channels else 'extrapolated'}: {full:.1f} s "
          f"= {full / per_image:.0f}x Grad-CAM per image "
          f"({full / (best['forward pass (compiled)'] / args.batch):.0f} forward passes)")
