"""Training the shapes CNN: oneDNN kernels on versus off, 64 px windows versus 96 px scenes.

``helpers`` turns TensorFlow's oneDNN CPU kernels on (TensorFlow leaves them off on CPUs
without AVX-512 neural-network instructions), and ``shapes_cnn.train`` learns from 64 px
windows of the scenes instead of the full 96 px. This benchmark times training steps of the
batch-normalized training model on real training scenes in each of the four combinations,
each in a fresh process (the setting is read once, when TensorFlow loads): three epochs after
an untimed warm-up, since oneDNN's first epochs can run at half speed. It prints scenes per
second and the speed-ups against oneDNN off at 96 px.

    python -m bench training
    python -m bench.training --scenes 3072
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

_CHILD = """
import sys, time
import keras
from helpers import shapes_cnn
size, scenes = int(sys.argv[1]), int(sys.argv[2])
keras.utils.set_random_seed(0)
model = shapes_cnn.build_model(size=None, batch_norm=True)
model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
x, y = shapes_cnn.training_data(scenes, seed=0, crop=None if size == 96 else size)
model.fit(x[:256], y[:256], batch_size=64, epochs=1, verbose=0)
start = time.perf_counter()
model.fit(x, y, batch_size=64, epochs=3, verbose=0)
print(3 * scenes / (time.perf_counter() - start))
"""


def scenes_per_second(size: int, onednn: bool, scenes: int) -> float:
    """Training throughput in a fresh process with oneDNN ``onednn``."""
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1" if onednn else "0"}
    result = subprocess.run([sys.executable, "-c", _CHILD, str(size), str(scenes)], env=env,
                            capture_output=True, text=True, check=True, timeout=900)
    return float(result.stdout.split()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=2048, help="scenes per epoch (3 timed epochs)")
    args = parser.parse_args(argv)
    rates = {(size, onednn): scenes_per_second(size, onednn, args.scenes)
             for size in (96, 64) for onednn in (False, True)}
    reference = rates[96, False]
    print(f"{'input':>6} {'oneDNN':>7} {'scenes/s':>9} {'speed-up':>9}")
    for (size, onednn), rate in rates.items():
        print(f"{size:>4}px {'on' if onednn else 'off':>7} {rate:>9.0f} {rate / reference:>8.2f}x")
    print(f"oneDNN at 64 px: {rates[64, True] / rates[64, False]:.2f}x; "
          f"64 px windows vs 96 px scenes, oneDNN on: {rates[64, True] / rates[96, True]:.2f}x")


if __name__ == "__main__":
    main()
