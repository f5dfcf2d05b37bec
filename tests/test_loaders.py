"""loaders.py and formats.py in this process, on tiny models built here: detection and signatures of every PyTorch
source format, and a user's code that leaves no trace in sys.modules. No worker process; a few seconds."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from studio.errors import StudioError  # noqa: E402
from studio.formats import Format, detect  # noqa: E402
from studio.loaders import USER_MODULE_PREFIX, load_signature, load_torch, user_code_of  # noqa: E402
from studio.signature import NCHW, OTHER, TensorSpec  # noqa: E402

BLOCKS = "loader_test_blocks"   # the factory's sibling module: a name nothing else imports

BLOCKS_SOURCE = textwrap.dedent("""
    from __future__ import annotations

    import torch


    def act(x: torch.Tensor) -> torch.Tensor:      # a module-level function: dynamo looks its module up by name
        return torch.relu(x)


    class ConvBN(torch.nn.Module):
        def __init__(self, channels: int, classes: int):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, channels, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(channels)
            self.head = torch.nn.Linear(channels, classes)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return self.head(act(self.bn(self.conv(image))).mean((2, 3)))
""")

FACTORY_SOURCE = textwrap.dedent(f"""
    from __future__ import annotations

    from dataclasses import dataclass

    from {BLOCKS} import ConvBN


    @dataclass
    class Config:                 # dataclasses look their module up in sys.modules while the file runs
        channels: int = 4
        classes: int = 5


    def build_model():
        return ConvBN(Config().channels, Config().classes)
""")


def _user_modules() -> set[str]:
    return {name for name in sys.modules if name.startswith(USER_MODULE_PREFIX) or name.split(".")[0] == BLOCKS}


@pytest.fixture()
def code(tmp_path) -> Path:
    """A factory file importing a sibling module, as users keep their model code."""
    (tmp_path / f"{BLOCKS}.py").write_text(BLOCKS_SOURCE)
    factory = tmp_path / "net.py"
    factory.write_text(FACTORY_SOURCE)
    return factory


@pytest.fixture()
def tiny(code):
    """The factory's model, built here through the loader, in eval mode with non-trivial BatchNorm statistics."""
    model = load_torch(detect(f"{code}:build_model"))
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    return model


IMAGE = torch.rand(1, 3, 8, 8)


def test_a_factory_leaves_no_trace_in_sys_modules(code):
    path = list(sys.path)
    source = detect(f"{code}:build_model")
    assert (source.format, source.factory) == (Format.PYTHON_FACTORY, "build_model")
    model, signature = load_signature(source)
    assert not _user_modules() and sys.path == path
    assert signature.inputs == (TensorSpec("image", "float32", (), OTHER),) and signature.outputs == ()
    assert model(IMAGE).shape == (1, 5) and not model.training
    assert type(model).__module__ == BLOCKS    # the object keeps its code: nothing needs the module by name


def test_two_loads_of_one_file_get_their_own_modules(code):
    first, second = load_torch(detect(f"{code}:build_model")), load_torch(detect(f"{code}:build_model"))
    with user_code_of(first):
        names = _user_modules()
    with user_code_of(second):
        assert _user_modules() != names     # each load its private "_studio_user_<hash>_<n>"
    assert not _user_modules()


def test_the_user_code_is_back_only_while_torch_traces_it(tiny):
    """torch.onnx falls back to dynamo's strict capture, which imports each traced function's module by name."""
    with user_code_of(tiny):
        assert BLOCKS in sys.modules and any(n.startswith(USER_MODULE_PREFIX) for n in sys.modules)
        program = torch.export.export(tiny, (IMAGE,), strict=True)
    assert not _user_modules()
    torch.testing.assert_close(program.module()(IMAGE), tiny(IMAGE))
    with user_code_of(torch.nn.Linear(2, 2)):   # a model that is no user's code changes nothing
        assert not _user_modules()


def test_weights_and_a_missing_factory(code, tiny, tmp_path):
    weights = tmp_path / "weights.pt"
    torch.save(tiny.state_dict(), weights)
    model = load_torch(detect(f"{code}:build_model", weights=weights))
    torch.testing.assert_close(model(IMAGE), tiny(IMAGE))
    with pytest.raises(StudioError, match="no callable .make.; it defines: Config, build_model"):
        load_torch(detect(f"{code}:make"))
    assert not _user_modules()
    with pytest.raises(StudioError, match="holds weights only"):
        detect(weights)


def test_torchscript_signature_has_names_only(tiny, tmp_path):
    path = tmp_path / "tiny.pt"
    torch.jit.save(torch.jit.trace(tiny, IMAGE), str(path))
    source = detect(path)
    assert source.format is Format.TORCHSCRIPT
    model, signature = load_signature(source)
    assert signature.inputs == (TensorSpec("image", "float32", (), OTHER),)   # TorchScript stores no shapes
    torch.testing.assert_close(model(IMAGE), tiny(IMAGE))


def test_exported_program_signature_has_shapes_and_layouts(tiny, tmp_path):
    path = tmp_path / "tiny.pt2"
    batch = torch.export.Dim("batch", min=1, max=8)
    with user_code_of(tiny):
        program = torch.export.export(tiny, (torch.rand(2, 3, 8, 8),), dynamic_shapes={"image": {0: batch}})
    torch.export.save(program, str(path))
    source = detect(path)
    assert source.format is Format.EXPORTED_PROGRAM
    model, signature = load_signature(source)
    assert signature.inputs == (TensorSpec("image", "float32", (None, 3, 8, 8), NCHW),)
    assert signature.outputs == (TensorSpec("output_0", "float32", (None, 5), OTHER),)
    torch.testing.assert_close(model.module()(IMAGE), tiny(IMAGE))


def test_a_pickled_module_needs_consent_and_its_code_leaves_no_trace(tiny, code, tmp_path):
    path = tmp_path / "full.pt"
    with user_code_of(tiny):    # pickling needs the class's module by name
        torch.save(tiny, path)
    with pytest.raises(StudioError, match="--allow-pickle"):
        detect(path)
    source = detect(path, allow_pickle=True)
    assert source.format is Format.TORCH_PICKLE
    model, signature = load_signature(source)
    assert not _user_modules() and str(tmp_path) not in sys.path
    assert signature.inputs == (TensorSpec("image", "float32", (), OTHER),)
    torch.testing.assert_close(model(IMAGE), tiny(IMAGE))
