#!/usr/bin/env python3
"""Build the bundled sample models in resources/samples (tiny, real, made here: nothing is downloaded).

    .venv/bin/python scripts/make_samples.py
"""

from __future__ import annotations

import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"


def tiny_cnn():
    """Conv, batchnorm, a residual add, pooling and a linear head: the shape of a real image classifier."""
    import torch
    from torch import nn

    class TinyCNN(nn.Module):
        def __init__(self, classes: int = 10):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
            self.block = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                       nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(16, classes)

        def forward(self, image):
            x = self.stem(image)
            x = torch.relu(x + self.block(x))
            return self.head(torch.flatten(self.pool(x), 1))

    torch.manual_seed(0)
    model = TinyCNN().eval()
    with torch.no_grad():   # non-trivial batchnorm statistics, so folding them is actually tested
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model, (torch.rand(1, 3, 64, 64),)


def tiny_keras():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((64, 64, 3), name="image")
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, name="scores")(x)
    return keras.Model(inputs, outputs, name="tiny_keras_cnn")


def main() -> int:
    import torch

    SAMPLES.mkdir(parents=True, exist_ok=True)
    model, example = tiny_cnn()
    torch.export.save(torch.export.export(model, example), SAMPLES / "tiny_cnn.pt2")
    tiny_keras().save(SAMPLES / "tiny_keras_cnn.keras")
    for path in sorted(SAMPLES.iterdir()):
        print(f"{path.stat().st_size:>9} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
