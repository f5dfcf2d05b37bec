"""Which layout each input has, and which one it should have after conversion to TF."""

from __future__ import annotations

from dataclasses import dataclass

from studio.signature import IMAGE_CHANNELS, NCHW, NCW, NHWC, NWC, OTHER, TensorSpec, guess_layout

CHANNELS_FIRST = (NCHW, NCW)
CHANNELS_LAST = (NHWC, NWC)
TO_CHANNELS_LAST = {NCHW: NHWC, NCW: NWC}


def source_layout(spec: TensorSpec, framework: str) -> str:
    """The spec's layout; when it says "other" only because the shape was unknown when it was read
    (TorchScript, nn.Module), guess again now that the shape is resolved, the way the loaders do."""
    if spec.layout != OTHER or not spec.shape or any(d is None for d in spec.shape):
        return spec.layout
    return guess_layout(tuple(spec.shape), channels_first=framework != "tensorflow")


def converted_layout(layout: str, keep_layout: bool) -> str:
    """Image inputs become channels-last (the mobile convention) unless the user keeps the source's."""
    if layout in CHANNELS_FIRST and not keep_layout:
        return TO_CHANNELS_LAST[layout]
    return layout


def permuted_shape(shape: tuple[int, ...], source: str, target: str) -> tuple[int, ...]:
    """The shape an input has in the target layout (channels move from axis 1 to the end)."""
    if source in CHANNELS_FIRST and target in CHANNELS_LAST:
        return (shape[0], *shape[2:], shape[1])
    return tuple(shape)


@dataclass(frozen=True)
class TfInput:
    """One model input on its way to TF: its names and its shape in the source's and in TF's layout."""

    name: str                       # the source's input name (artifact.input_layout is keyed by it)
    onnx_name: str                  # the ONNX graph's input name
    tf_name: str                    # the name onnx2tf gives it (it sanitizes ':' and a leading '/')
    dtype: str
    source_shape: tuple[int, ...]
    source_layout: str
    tf_layout: str

    @property
    def tf_shape(self) -> tuple[int, ...]:
        return permuted_shape(self.source_shape, self.source_layout, self.tf_layout)

    @property
    def is_image(self) -> bool:
        """4-D with 1/3/4 channels where its TF layout puts them."""
        shape = self.tf_shape
        if len(shape) != 4 or self.tf_layout not in CHANNELS_FIRST + CHANNELS_LAST:
            return False
        return (shape[-1] if self.tf_layout in CHANNELS_LAST else shape[1]) in IMAGE_CHANNELS
