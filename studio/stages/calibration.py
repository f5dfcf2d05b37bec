"""Calibration data for int8: our own generated image-like set, or the user's --calibration data.

There is no internet here, and a conversion must not depend on one: full int8 calibration always gets
explicit per-input arrays from here (onnx2tf 2.x requires them for every input), in the converted
model's layout and with mean 0 / std 1, so onnx2tf never normalizes or fetches anything on its own.
Images get a deterministic image-like set (smooth gradients, waves and soft-edged shapes, float32 in
[0, 1]): quantization ranges learnt on white noise are far off for real photos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.errors import StudioError
from studio.inputs import IMAGE_SUFFIXES
from studio.stages.layouts import CHANNELS_FIRST, CHANNELS_LAST, TfInput

SAMPLES = 20
MAX_IMAGES = 200


def image_like(count: int, height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    """count NHWC float32 images in [0, 1] with image statistics: smooth, correlated, edged regions.

    Quantization ranges learnt on white noise are far off for real photos; these are much closer.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0.0, 1.0, height, dtype=np.float32),
                         np.linspace(0.0, 1.0, width, dtype=np.float32), indexing="ij")
    images = np.empty((count, height, width, channels), dtype=np.float32)
    for i in range(count):
        angle = rng.uniform(0.0, 2.0 * np.pi)
        ramp = np.cos(angle) * xx + np.sin(angle) * yy
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
        low, high = rng.uniform(0.0, 1.0, (2, channels)).astype(np.float32)
        image = low + (high - low) * ramp[..., None]
        for _ in range(2):  # low-frequency texture
            fx, fy = rng.uniform(0.5, 4.0, 2)
            wave = np.sin(2.0 * np.pi * (fx * xx + fy * yy) + rng.uniform(0.0, 2.0 * np.pi))
            image += rng.uniform(0.03, 0.12) * wave[..., None] * rng.uniform(-1.0, 1.0, channels)
        for _ in range(int(rng.integers(2, 6))):  # objects: soft ellipses and rectangles
            cx, cy = rng.uniform(0.1, 0.9, 2)
            rx, ry = rng.uniform(0.05, 0.35, 2)
            if rng.random() < 0.5:
                dist = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 - 1.0
                mask = 1.0 / (1.0 + np.exp(np.clip(dist * 12.0, -50, 50)))
            else:
                edge = 60.0
                mask = (1.0 / (1.0 + np.exp(np.clip((np.abs(xx - cx) - rx) * edge, -50, 50))) *
                        1.0 / (1.0 + np.exp(np.clip((np.abs(yy - cy) - ry) * edge, -50, 50))))
            color = rng.uniform(0.0, 1.0, channels).astype(np.float32)
            alpha = rng.uniform(0.6, 1.0)
            image = image * (1.0 - alpha * mask[..., None]) + color * (alpha * mask[..., None])
        images[i] = np.clip(image, 0.0, 1.0)
    return images


def generated(inputs: list[TfInput], seed: int) -> dict[str, np.ndarray]:
    """20 samples per input: image-like for images, mixed-scale seeded noise for everything else."""
    data = {}
    for i, spec in enumerate(inputs):
        batch = spec.tf_shape[0] if spec.tf_shape else 1
        count = SAMPLES * max(1, batch)
        if spec.is_image:
            height, width, channels = _hwc(spec)
            images = image_like(count, height, width, channels, seed=seed + i)
            data[spec.name] = _to_tf_layout_from_nhwc(images, spec)
        else:
            data[spec.name] = mixed_noise(count, tuple(spec.tf_shape[1:]), seed=seed + i)
    return data


def mixed_noise(count: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """count float32 samples for a non-image input whose real data we don't know: half standard normal
    (normalized features, embeddings), a quarter uniform in [-1, 1) (what the comparison feeds by default)
    and a quarter uniform in [0, 1).

    int8 ranges are learnt per tensor from these, and ranges learnt on one scale clip another: the tiny
    transformer block calibrated on normal noise alone reaches cosine 0.96 on [0, 1) inputs, on this mix
    0.999, at no cost on normal inputs (measured).
    """
    rng = np.random.default_rng(seed)
    uniform = count // 4
    normal = count - 2 * uniform
    parts = [rng.standard_normal((normal, *shape)), rng.uniform(-1.0, 1.0, (uniform, *shape)),
             rng.uniform(0.0, 1.0, (uniform, *shape))]
    samples = np.concatenate(parts).astype(np.float32)
    return samples[rng.permutation(count)]   # scales interleaved, not in blocks


def from_user(path: str | Path, inputs: list[TfInput]) -> dict[str, np.ndarray]:
    """--calibration: a .npy (one input), a .npz keyed by input name, or a folder of images (one image input).

    Arrays may be in the source's layout or the converted model's; a single sample may omit the batch axis.
    Values are used as given: they must already be what the model expects (no normalization here).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise StudioError(f"--calibration {path}: no such file or folder")
    if path.is_dir():
        return _from_images(path, inputs)
    if path.suffix == ".npy":
        if len(inputs) != 1:
            raise StudioError(f"--calibration {path.name}: the model has {len(inputs)} inputs; give a .npz with one "
                              f"array per input name ({', '.join(s.name for s in inputs)})")
        return {inputs[0].name: _fit(np.load(path, allow_pickle=False), inputs[0], path.name)}
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        if len(inputs) == 1 and len(arrays) == 1:
            return {inputs[0].name: _fit(next(iter(arrays.values())), inputs[0], path.name)}
        missing = [s.name for s in inputs if s.name not in arrays]
        if missing:
            raise StudioError(f"--calibration {path.name} has no array for {', '.join(missing)}; "
                              f"it holds {', '.join(arrays) or 'nothing'}")
        return {s.name: _fit(arrays[s.name], s, f"{path.name}[{s.name}]") for s in inputs}
    raise StudioError(f"--calibration {path.name}: expected a .npy, a .npz or a folder of images")


def _fit(array: np.ndarray, spec: TfInput, label: str) -> np.ndarray:
    """The samples stacked on axis 0, in the TF model's layout, as float32."""
    array = np.asarray(array)
    if array.dtype.kind not in "fiu":
        raise StudioError(f"--calibration {label}: expected numbers, got {array.dtype}")
    src, tf_ = tuple(spec.source_shape[1:]), tuple(spec.tf_shape[1:])
    if array.ndim == len(spec.source_shape) - 1:
        array = array[None]
    if array.ndim == len(spec.source_shape) and tuple(array.shape[1:]) == tf_:
        return array.astype(np.float32)
    if array.ndim == len(spec.source_shape) and tuple(array.shape[1:]) == src:
        if spec.source_layout in CHANNELS_FIRST and spec.tf_layout in CHANNELS_LAST:
            array = np.moveaxis(array, 1, -1)
        return np.ascontiguousarray(array, dtype=np.float32)
    raise StudioError(f"--calibration {label}: shape {list(array.shape)} does not fit input {spec.name!r} "
                      f"(samples of {list(spec.source_shape[1:])}, stacked on a first axis)")


def _hwc(spec: TfInput) -> tuple[int, int, int]:
    shape = spec.tf_shape
    if spec.tf_layout in CHANNELS_LAST:
        return shape[1], shape[2], shape[3]
    return shape[2], shape[3], shape[1]


def _to_tf_layout_from_nhwc(images: np.ndarray, spec: TfInput) -> np.ndarray:
    return images if spec.tf_layout in CHANNELS_LAST else np.ascontiguousarray(np.moveaxis(images, -1, 1))


def _from_images(folder: Path, inputs: list[TfInput]) -> dict[str, np.ndarray]:
    from PIL import Image

    images_in = [s for s in inputs if s.is_image]
    if len(inputs) != 1 or not images_in:
        raise StudioError(f"--calibration {folder}: a folder of images calibrates a model with one image input; "
                          f"give a .npz with one array per input instead")
    spec = images_in[0]
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:MAX_IMAGES]
    if not files:
        raise StudioError(f"--calibration {folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    height, width, channels = _hwc(spec)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    batch = []
    for file in files:
        try:
            with Image.open(file) as image:
                pixels = image.convert(mode).resize((width, height), Image.BILINEAR)
        except Exception as exc:
            raise StudioError(f"--calibration {file}: not a readable image ({exc})") from None
        array = np.asarray(pixels, dtype=np.float32) / 255.0
        batch.append(array[..., None] if array.ndim == 2 else array)
    return {spec.name: _to_tf_layout_from_nhwc(np.stack(batch), spec)}
