"""torch->onnx on ScriptModules: TorchScript -> ExportedProgram (TS2EP) + the dynamo exporter first, the
TorchScript exporter as fallback, every attempt logged, and one line naming them all when every one fails."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from models import torch_vit_block
from studio.errors import StageError
from studio.formats import Format, Source
from studio.signature import NCHW, OTHER, Signature, TensorSpec
from .conftest import Model, _torch_reference, run_stage

pytestmark = pytest.mark.slow


def run_onnx(path: str, feeds: dict[str, np.ndarray]) -> tuple[list[str], list[np.ndarray]]:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return names, session.run(None, {n: feeds[n] for n in names})


def _traced(root: Path, name: str, module, args: tuple) -> Path:
    import torch

    root.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, args, check_trace=False)
    path = root / f"{name}.pt"
    torch.jit.save(traced, path)
    return path


def test_traced_vit_goes_through_ts2ep_where_the_torchscript_exporter_fails(tmp_path):
    import torch

    module, image = torch_vit_block()
    path = _traced(tmp_path / "src", "vit", module, (image,))
    # the premise: torch's TorchScript exporter cannot export this traced attention
    with warnings.catch_warnings(), pytest.raises(Exception, match="transpose for tensor of unknown rank"):
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.jit.load(str(path)), (image,), str(tmp_path / "legacy.onnx"), dynamo=False)

    model = Model(Source(path, Format.TORCHSCRIPT), Signature((TensorSpec("image", "float32", (1, 3, 16, 16), NCHW),)),
                  _torch_reference(module))
    run = run_stage("torch->onnx", model, tmp_path / "work")
    (artifact,) = run.artifacts
    assert "exporter: ts2ep+dynamo, opset 18" in artifact.notes
    assert any(note.startswith("route: ") and "TS2EP" in note for note in artifact.notes), artifact.notes
    assert run.logs[0] == ("export attempts, in order: 1. TorchScript -> ExportedProgram (TS2EP) + the dynamo "
                           "exporter; 2. the TorchScript exporter")
    assert any(line.startswith("exported with TS2EP + the dynamo exporter, opset 18") for line in run.logs), run.logs
    assert not any("failed" in line for line in run.logs), run.logs   # no wasted dynamo try on the ScriptModule
    for seed in (0, 1):
        feeds = {"image": np.random.default_rng(seed).random((1, 3, 16, 16), dtype=np.float32)}
        names, (got,) = run_onnx(artifact.path, feeds)
        (want,) = model.reference(feeds)
        assert names == ["image"] and got.shape == want.shape == (1, 10)
        assert np.abs(got - want).max() <= 1e-5


def _window_mixer():
    """Swin-style: a [B, H, W, C] map split into 4x4 windows by a 6-D view whose sizes are computed from the
    input's shape (H // 4), attention inside each window, the windows put back the same way, then rolled."""
    import torch
    from torch import nn

    class WindowMixer(nn.Module):
        def __init__(self, dim: int = 8, window: int = 4):
            super().__init__()
            self.window, self.qkv, self.proj = window, nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

        def forward(self, x):
            b, h, w, c = x.shape
            ws = self.window
            windows = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws * ws, c)
            q, k, v = self.qkv(windows).chunk(3, dim=-1)
            mixed = self.proj((q @ k.transpose(1, 2) * c ** -0.5).softmax(-1) @ v)
            count = mixed.shape[0] // ((h // ws) * (w // ws))
            mixed = mixed.view(count, h // ws, w // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5).contiguous()
            return torch.roll(mixed.view(b, h, w, -1), shifts=(2, 2), dims=(1, 2))   # Swin's shift back

    torch.manual_seed(0)
    return WindowMixer().eval(), torch.rand(1, 8, 8, 8)


def test_traced_size_arithmetic_reaches_ts2ep_as_ints(tmp_path):
    """torch.jit.trace records H // 4 as tensor ops on the size; TS2EP reads such a value back as data-dependent,
    and torch.roll's check for an empty tensor then stops it. With the size arithmetic rewritten as ints, the
    model goes through TS2EP."""
    import torch
    from torch._export.converter import TS2EPConverter

    from studio.stages.torchscript_sizes import sizes_as_ints

    module, x = _window_mixer()
    path = _traced(tmp_path / "src", "windows", module, (x,))
    # the premise: TS2EP as torch ships it cannot convert this trace
    with warnings.catch_warnings(), pytest.raises(Exception, match="data-dependent"):
        warnings.simplefilter("ignore")
        TS2EPConverter(torch.jit.load(str(path)), (x,)).convert()
    converter = TS2EPConverter(torch.jit.load(str(path)), (x,))
    assert sizes_as_ints(converter.ts_graph) == 3     # h // 4, w // 4 and the window count
    kinds = {node.kind() for node in converter.ts_graph.nodes()}
    assert "aten::Int" not in kinds and "aten::floordiv" in kinds

    model = Model(Source(path, Format.TORCHSCRIPT), Signature((TensorSpec("x", "float32", (1, 8, 8, 8), OTHER),)),
                  _torch_reference(module))
    run = run_stage("torch->onnx", model, tmp_path / "work")
    (artifact,) = run.artifacts
    assert "exporter: ts2ep+dynamo, opset 18" in artifact.notes
    assert not any("failed" in line for line in run.logs), run.logs
    feeds = {"x": np.random.default_rng(1).random((1, 8, 8, 8), dtype=np.float32)}
    _, (got,) = run_onnx(artifact.path, feeds)
    (want,) = model.reference(feeds)
    assert got.shape == want.shape == (1, 8, 8, 8)
    assert np.abs(got - want).max() <= 1e-5


def test_ts2ep_failure_falls_back_to_the_torchscript_exporter_and_says_why(tmp_path):
    import torch

    class Rows(torch.nn.Module):
        """A scripted loop over a dynamic count: TS2EP refuses it, the TorchScript exporter writes an ONNX Loop."""

        def forward(self, x):
            total = torch.zeros_like(x[0])
            for i in range(x.shape[0]):
                total = total + x[i] * (i + 1)
            return total

    path = tmp_path / "rows.pt"
    torch.jit.save(torch.jit.script(Rows()), path)
    module = torch.jit.load(str(path))
    model = Model(Source(path, Format.TORCHSCRIPT), Signature((TensorSpec("x", "float32", (3, 4), OTHER),)),
                  _torch_reference(module))
    run = run_stage("torch->onnx", model, tmp_path / "work")
    (artifact,) = run.artifacts
    failed = [line for line in run.logs if "failed" in line]
    assert len(failed) == 1 and "\n" not in failed[0], run.logs
    assert failed[0].startswith("TorchScript -> ExportedProgram (TS2EP) failed: ")
    assert failed[0].endswith("; trying the TorchScript exporter")
    assert "exporter: torchscript, opset 18" in artifact.notes
    assert "route: TorchScript -> ExportedProgram (TS2EP) failed, then the TorchScript exporter" in artifact.notes
    feeds = {"x": np.random.default_rng(0).random((3, 4), dtype=np.float32)}
    _, (got,) = run_onnx(artifact.path, feeds)
    np.testing.assert_allclose(got, model.reference(feeds)[0], atol=1e-5)


def test_every_attempt_failing_is_named_in_one_short_line(tmp_path):
    import torch

    class SingularValues(torch.nn.Module):
        def forward(self, x):
            return torch.linalg.svdvals(x)   # no ONNX operator: neither exporter has it

    module = SingularValues()
    path = _traced(tmp_path / "src", "svd", module, (torch.rand(1, 4, 4),))
    model = Model(Source(path, Format.TORCHSCRIPT), Signature((TensorSpec("x", "float32", (1, 4, 4), OTHER),)),
                  _torch_reference(module))
    with pytest.raises(StageError) as info:
        run_stage("torch->onnx", model, tmp_path / "work")
    message = str(info.value)
    assert message.startswith("stage torch->onnx failed: every export attempt failed: ")
    assert "\n" not in message and len(message) < 800, message
    assert "the dynamo exporter (on the TS2EP ExportedProgram): " in message
    assert "; the TorchScript exporter: " in message and "svdvals" in message
    assert not list((tmp_path / "work").glob("*.onnx*"))                    # no partial file left


@pytest.mark.parametrize("mask_kind", ["none", "key_padding", "causal"])
def test_the_fused_attention_decomposition_matches_torchs_own_kernel(mask_kind):
    """aten::_native_multi_head_attention (what tracing nn.MultiheadAttention records in eval mode) against
    its decomposition in plain ops, with each of the fast path's mask kinds."""
    import torch

    from studio.stages.torch_decompositions import native_multi_head_attention

    torch.manual_seed(0)
    batch, length, dim, heads = 2, 5, 16, 4
    x = torch.randn(batch, length, dim)
    w, b = torch.randn(3 * dim, dim) * 0.3, torch.randn(3 * dim) * 0.1
    pw, pb = torch.randn(dim, dim) * 0.3, torch.randn(dim) * 0.1
    mask, mask_type = None, None
    if mask_kind == "key_padding":
        mask, mask_type = torch.tensor([[False] * 4 + [True], [False] * 5]), 1
    elif mask_kind == "causal":
        mask, mask_type = torch.ones(length, length, dtype=torch.bool).triu(1), 0
    for need_weights, average in ((True, True), (True, False), (False, True)):
        want = torch.ops.aten._native_multi_head_attention(x, x, x, dim, heads, w, b, pw, pb, mask, need_weights,
                                                           average, mask_type)
        got = native_multi_head_attention(x, x, x, dim, heads, w, b, pw, pb, mask, need_weights, average, mask_type)
        assert torch.allclose(got[0], want[0], atol=1e-5), (mask_kind, (got[0] - want[0]).abs().max())
        if need_weights:
            assert torch.allclose(got[1], want[1], atol=1e-5)
