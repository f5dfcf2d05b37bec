"""Tiny real models the tests build themselves (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

FACTORY_SOURCE = '''
import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 5)

    def forward(self, image):
        x = torch.relu(self.bn(self.conv(image)))
        return self.fc(x.mean(dim=(2, 3)))


def build_model():
    return TinyNet()
'''


def torch_cnn():
    """Conv, batchnorm, residual, pooling, linear on a [1, 3, 32, 32] image."""
    import torch
    from torch import nn

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
            self.res = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8))
            self.pool = nn.MaxPool2d(2)
            self.head = nn.Linear(8 * 16 * 16, 10)

        def forward(self, image):
            x = self.stem(image)
            x = self.pool(torch.relu(x + self.res(x)))
            return self.head(torch.flatten(x, 1))

    torch.manual_seed(0)
    model = CNN().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 1.5)
    return model, torch.rand(1, 3, 32, 32)


def torch_transformer_block(tokens: int = 10):
    """LayerNorm, multi-head attention, GELU (exact: exports as Erf) on [1, tokens, 32] tokens."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, dim: int = 32, heads: int = 4):
            super().__init__()
            self.norm1 = nn.LayerNorm(dim)
            self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
            self.norm2 = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 64), nn.GELU(), nn.Linear(64, dim))

        def forward(self, tokens):
            h = self.norm1(tokens)
            tokens = tokens + self.attn(h, h, h, need_weights=False)[0]
            return tokens + self.mlp(self.norm2(tokens))

    torch.manual_seed(0)
    return Block().eval(), torch.randn(1, tokens, 32)


def keras_cnn():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="scores")(x))


def keras_two_in_two_out():
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input((16, 16, 3), name="image")
    meta = keras.Input((4,), name="meta")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    joined = keras.layers.Concatenate()([x, keras.layers.Dense(4, activation="relu")(meta)])
    logits = keras.layers.Dense(3, name="logits")(joined)
    value = keras.layers.Dense(1, name="value")(joined)
    return keras.Model([image, meta], [logits, value])


def plain_onnx(path: Path) -> Path:
    """A Gemm + Relu + Softmax graph written with onnx.helper: no framework behind it."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((8, 6)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal((6,)).astype(np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("Softmax", ["r"], ["probs"], axis=-1)],
        "plain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 6])], initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _import_file(path: Path):
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def save_all(root: Path) -> dict[str, Path]:
    """Every source format the studio reads, written under root; returns name -> path."""
    import torch

    root.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    cnn, image = torch_cnn()
    paths["torchscript"] = root / "cnn_ts.pt"
    torch.jit.save(torch.jit.trace(cnn, image), paths["torchscript"])
    paths["cnn_pt2"] = root / "cnn.pt2"
    torch.export.save(torch.export.export(cnn, (image,)), paths["cnn_pt2"])
    block, tokens = torch_transformer_block()
    paths["transformer_pt2"] = root / "block.pt2"
    torch.export.save(torch.export.export(block, (tokens,)), paths["transformer_pt2"])
    factory = root / "tiny_factory.py"
    factory.write_text(FACTORY_SOURCE)
    paths["factory"] = factory
    tiny = _import_file(factory).build_model().eval()
    paths["factory_weights"] = root / "tiny_weights.pt"
    torch.save(tiny.state_dict(), paths["factory_weights"])
    paths["pickle"] = root / "tiny_full.pt"   # its class lives in tiny_factory.py beside it, as users keep it
    torch.save(tiny, paths["pickle"])
    paths["keras"] = root / "cnn.keras"
    keras_cnn().save(paths["keras"])
    two = keras_two_in_two_out()
    paths["h5"] = root / "two.h5"
    two.save(paths["h5"])
    paths["savedmodel"] = root / "two_savedmodel"
    two.export(str(paths["savedmodel"]), verbose=False)
    paths["onnx"] = plain_onnx(root / "plain.onnx")
    return paths


def torch_tiny_bert():
    """A BERT in miniature: token + position embeddings, one masked self-attention, masked mean pooling and a
    linear head, on int64 input_ids and attention_mask [1, 16] (what a traced BERT takes)."""
    import torch
    from torch import nn

    class TinyBert(nn.Module):
        def __init__(self, vocab: int = 100, dim: int = 32, heads: int = 4, length: int = 16, classes: int = 3):
            super().__init__()
            self.heads = heads
            self.tokens = nn.Embedding(vocab, dim)
            self.positions = nn.Embedding(length, dim)
            self.norm = nn.LayerNorm(dim)
            self.qkv = nn.Linear(dim, 3 * dim)
            self.out = nn.Linear(dim, dim)
            self.head = nn.Linear(dim, classes)

        def forward(self, input_ids, attention_mask):
            b, t = input_ids.shape
            positions = torch.arange(t, device=input_ids.device).unsqueeze(0)
            x = self.norm(self.tokens(input_ids) + self.positions(positions))
            d = x.shape[-1]
            q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
            scores = q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5
            scores = scores.masked_fill(attention_mask[:, None, None, :] == 0, -1e4)
            x = x + self.out((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d))
            weights = attention_mask.unsqueeze(-1).to(x.dtype)
            return self.head((x * weights).sum(1) / weights.sum(1).clamp(min=1.0))

    torch.manual_seed(0)
    ids = torch.randint(0, 100, (1, 16))
    mask = torch.ones(1, 16, dtype=torch.int64)
    mask[:, 12:] = 0
    return TinyBert().eval(), (ids, mask)


def torch_vit_block():
    """A ViT in miniature, as torchvision builds one: patch-embedding conv, reshape + permute to tokens, a class
    token, nn.MultiheadAttention and an MLP, on a [1, 3, 16, 16] image. Traced (not under no_grad, so
    attention takes its generic path), the TorchScript exporter fails on it ("transpose for tensor of unknown
    rank"); TS2EP + the dynamo exporter converts it."""
    import torch
    from torch import nn

    class VitBlock(nn.Module):
        def __init__(self, dim: int = 32, heads: int = 4, patch: int = 4, classes: int = 10):
            super().__init__()
            self.dim, self.patch = dim, patch
            self.conv_proj = nn.Conv2d(3, dim, patch, stride=patch)
            self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos_embedding = nn.Parameter(torch.randn(1, 17, dim) * 0.02)
            self.ln_1 = nn.LayerNorm(dim)
            self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
            self.ln_2 = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 64), nn.GELU(), nn.Linear(64, dim))
            self.heads = nn.Linear(dim, classes)

        def forward(self, image):
            n, _, h, w = image.shape
            x = self.conv_proj(image).reshape(n, self.dim, (h // self.patch) * (w // self.patch)).permute(0, 2, 1)
            x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1) + self.pos_embedding
            y = self.ln_1(x)
            x = x + self.attention(y, y, y, need_weights=False)[0]
            x = x + self.mlp(self.ln_2(x))
            return self.heads(x[:, 0])

    torch.manual_seed(0)
    return VitBlock().eval(), torch.rand(1, 3, 16, 16)
