"""The zoo: real architectures, built here from code and configs (nothing is downloaded, no weights).

- keras.applications with weights=None (MobileNetV2, ResNet50, DenseNet121, EfficientNetB0, ConvNeXtTiny)
- HuggingFace transformers built from small configs (BERT sequence classifier, GPT-2 LM), random weights
- hand-built PyTorch blocks that reproduce known converter failures (Swin shifted windows, ViT attention,
  ConvNeXt block, ShuffleNet channel shuffle, DeepLab ASPP, squeeze-excite, depthwise-separable convs)

Sizes are small (64x64 / 96x96 images, 2-layer transformers, 16 tokens) so the whole zoo fits the CI
budget; the architectures are the real ones.

Random-init BatchNorm keeps running_mean 0 / running_var 1, so after a few layers the activations of a
random network either vanish or blow up and the converted outputs can't be judged. Every builder therefore
recalibrates the BatchNorm statistics on data drawn like the comparison's inputs (uniform [0, 1) images):
torch with momentum=None (a cumulative average) over a few train() passes, then eval(); Keras with a
momentum schedule k/(k+1) over a few model(x, training=True) calls, which is the same cumulative average.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

IMAGE = 64            # image side for the hand-built blocks and most keras.applications
TOKENS = 16           # sequence length of the transformers
VOCAB = 512
CALIBRATION_BATCHES = 4     # torch: cheap; Keras runs eagerly with training=True, so it gets 2
CALIBRATION_BATCH = 8


@dataclass(frozen=True)
class ZooModel:
    name: str
    framework: str                          # "torch" | "keras"
    formats: tuple[str, ...]                # "pt2", "torchscript", "keras", "savedmodel"
    build: Callable[[], tuple[Any, dict[str, np.ndarray]]]   # -> (model, inputs keyed by input name)
    # --input-shape values for TorchScript (which stores no shapes); ":int64" marks token ids
    torchscript_shapes: tuple[str, ...] = ()


# ------------------------------------------------------------------ shared helpers

def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _images(batch: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Uniform [0, 1) like the studio's generated image inputs."""
    return _rng(seed).uniform(0.0, 1.0, size=(batch, *shape)).astype(np.float32)


def _recalibrate_torch_bn(model: Any, shape: tuple[int, ...]) -> Any:
    """Real BatchNorm statistics: cumulative average (momentum=None) over a few train() passes, then eval()."""
    import torch
    from torch import nn

    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(CALIBRATION_BATCHES):
            model(torch.from_numpy(_images(CALIBRATION_BATCH, shape, seed=100 + i)))
    for m in norms:
        m.momentum = 0.1
    return model.eval()


def _recalibrate_keras_bn(model: Any, shape: tuple[int, ...], batches: int = 2) -> Any:
    """Real BatchNorm statistics: model(x, training=True) with momentum k/(k+1) = a cumulative average."""
    import keras

    # keras.applications are flat functional models (ConvNeXt has LayerNorm only: nothing to do there)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in norms]
    for k in range(batches):
        for layer in norms:
            layer.momentum = k / (k + 1)
        model(_images(CALIBRATION_BATCH, shape, seed=100 + k), training=True)
    for layer, momentum in zip(norms, saved):
        layer.momentum = momentum
    return model


def _torch_image_model(cls: Callable[[], Any], seed: int = 0) -> tuple[Any, dict[str, np.ndarray]]:
    import torch

    torch.manual_seed(seed)
    shape = (3, IMAGE, IMAGE)
    model = _recalibrate_torch_bn(cls(), shape)
    return model, {"image": _images(1, shape, seed=7)}


# ------------------------------------------------------------------ keras.applications

def _keras_app(name: str, side: int, **kwargs: Any) -> Callable[[], tuple[Any, dict[str, np.ndarray]]]:
    def build() -> tuple[Any, dict[str, np.ndarray]]:
        import keras

        keras.utils.set_random_seed(0)
        shape = (side, side, 3)
        # logits (classifier_activation=None): random-init softmax probabilities are all ~1/classes
        model = getattr(keras.applications, name)(weights=None, include_top=True, input_shape=shape, classes=10,
                                                  classifier_activation=None)
        _recalibrate_keras_bn(model, shape)
        return model, {"image": _images(1, shape, seed=7)}

    return build


# ------------------------------------------------------------------ HuggingFace transformers (random weights)

def _token_inputs(with_mask: bool) -> dict[str, np.ndarray]:
    ids = _rng(3).integers(1, VOCAB, size=(1, TOKENS), dtype=np.int64)
    if not with_mask:
        return {"input_ids": ids}
    mask = np.ones((1, TOKENS), dtype=np.int64)
    mask[:, -4:] = 0                                   # the last 4 tokens are padding
    return {"input_ids": ids, "attention_mask": mask}


def bert_classifier() -> tuple[Any, dict[str, np.ndarray]]:
    import torch
    from torch import nn
    from transformers import BertConfig, BertForSequenceClassification

    class BertLogits(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    torch.manual_seed(0)
    config = BertConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=64, num_labels=3,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertLogits(BertForSequenceClassification(config)).eval()
    return model, _token_inputs(with_mask=True)


def gpt2_lm() -> tuple[Any, dict[str, np.ndarray]]:
    import torch
    from torch import nn
    from transformers import GPT2Config, GPT2LMHeadModel

    class Gpt2Logits(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids):
            return self.model(input_ids=input_ids, use_cache=False).logits

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=64, n_layer=2, n_head=4,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, use_cache=False,
                        bos_token_id=0, eos_token_id=0)
    model = Gpt2Logits(GPT2LMHeadModel(config)).eval()
    return model, _token_inputs(with_mask=False)


# ------------------------------------------------------------------ hand-built PyTorch blocks

def swin() -> tuple[Any, dict[str, np.ndarray]]:
    """Swin: patch embed, window attention with relative position bias, torch.roll shifted windows with the
    attention mask, 6-D window partition/reverse (view + permute), patch merging; 2 stages."""
    import torch
    from torch import nn

    def window_partition(x, ws):
        b, h, w, c = x.shape
        x = x.view(b, h // ws, ws, w // ws, ws, c)
        return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws * ws, c)

    def window_reverse(windows, ws, h, w):
        b = windows.shape[0] // ((h // ws) * (w // ws))
        x = windows.view(b, h // ws, w // ws, ws, ws, -1)
        return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)

    class WindowAttention(nn.Module):
        def __init__(self, dim, ws, heads):
            super().__init__()
            self.heads, self.scale = heads, (dim // heads) ** -0.5
            self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            self.relative_position_bias_table = nn.Parameter(torch.randn((2 * ws - 1) ** 2, heads) * 0.5)
            coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
            rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)
            self.register_buffer("relative_position_index", rel[..., 0] * (2 * ws - 1) + rel[..., 1])

        def forward(self, x, mask=None):
            bw, n, c = x.shape
            qkv = self.qkv(x).reshape(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            attn = (q * self.scale) @ k.transpose(-2, -1)
            bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
            attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
            if mask is not None:
                nw = mask.shape[0]
                attn = attn.view(bw // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
                attn = attn.view(-1, self.heads, n, n)
            x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(bw, n, c)
            return self.proj(x)

    class SwinBlock(nn.Module):
        def __init__(self, dim, res, heads, ws, shift):
            super().__init__()
            self.res, self.ws, self.shift = res, ws, shift
            self.norm1, self.attn = nn.LayerNorm(dim), WindowAttention(dim, ws, heads)
            self.norm2 = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
            mask = None
            if shift:
                img = torch.zeros(1, res, res, 1)
                cnt = 0
                for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                    for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                        img[:, hs, wsl, :] = cnt
                        cnt += 1
                mw = window_partition(img, ws).squeeze(-1)
                mask = mw.unsqueeze(1) - mw.unsqueeze(2)
                mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
            self.register_buffer("attn_mask", mask)

        def forward(self, x):
            b, length, c = x.shape
            h = w = self.res
            shortcut = x
            x = self.norm1(x).view(b, h, w, c)
            if self.shift:
                x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
            windows = self.attn(window_partition(x, self.ws), mask=self.attn_mask)
            x = window_reverse(windows, self.ws, h, w)
            if self.shift:
                x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
            x = shortcut + x.view(b, h * w, c)
            return x + self.mlp(self.norm2(x))

    class PatchMerging(nn.Module):
        def __init__(self, dim, res):
            super().__init__()
            self.res = res
            self.norm, self.reduction = nn.LayerNorm(4 * dim), nn.Linear(4 * dim, 2 * dim, bias=False)

        def forward(self, x):
            b, _, c = x.shape
            x = x.view(b, self.res, self.res, c)
            x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
            return self.reduction(self.norm(x.view(b, -1, 4 * c)))

    class Swin(nn.Module):
        def __init__(self, dim=32, ws=4, classes=10):
            super().__init__()
            res = IMAGE // 4
            self.patch_embed, self.patch_norm = nn.Conv2d(3, dim, 4, stride=4), nn.LayerNorm(dim)
            self.stage1 = nn.Sequential(SwinBlock(dim, res, 2, ws, 0), SwinBlock(dim, res, 2, ws, ws // 2))
            self.merge = PatchMerging(dim, res)
            self.stage2 = nn.Sequential(SwinBlock(2 * dim, res // 2, 4, ws, 0),
                                        SwinBlock(2 * dim, res // 2, 4, ws, ws // 2))
            self.norm, self.head = nn.LayerNorm(2 * dim), nn.Linear(2 * dim, classes)

        def forward(self, image):
            x = self.patch_norm(self.patch_embed(image).flatten(2).transpose(1, 2))
            x = self.stage2(self.merge(self.stage1(x)))
            return self.head(self.norm(x).mean(dim=1))

    return _torch_image_model(Swin)


def vit() -> tuple[Any, dict[str, np.ndarray]]:
    """ViT: conv patch embed, class token, learned position embedding, one encoder block with
    nn.MultiheadAttention and one with hand-written multi-head attention, exact GELU MLPs."""
    import torch
    from torch import nn

    class MlpBlock(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.norm = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

        def forward(self, x):
            return x + self.mlp(self.norm(x))

    class TorchMhaBlock(nn.Module):
        def __init__(self, dim, heads):
            super().__init__()
            self.norm, self.attn = nn.LayerNorm(dim), nn.MultiheadAttention(dim, heads, batch_first=True)
            self.mlp = MlpBlock(dim)

        def forward(self, x):
            h = self.norm(x)
            return self.mlp(x + self.attn(h, h, h, need_weights=False)[0])

    class HandMhaBlock(nn.Module):
        def __init__(self, dim, heads):
            super().__init__()
            self.heads = heads
            self.norm, self.qkv, self.proj = nn.LayerNorm(dim), nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            self.mlp = MlpBlock(dim)

        def forward(self, x):
            b, n, c = x.shape
            qkv = self.qkv(self.norm(x)).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            attn = (q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5
            out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c)
            return self.mlp(x + self.proj(out))

    class ViT(nn.Module):
        def __init__(self, dim=64, patch=8, heads=4, classes=10):
            super().__init__()
            tokens = (IMAGE // patch) ** 2
            self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
            self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
            self.pos_embed = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
            self.blocks = nn.Sequential(TorchMhaBlock(dim, heads), HandMhaBlock(dim, heads))
            self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, classes)

        def forward(self, image):
            x = self.patch_embed(image).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
            return self.head(self.norm(self.blocks(x))[:, 0])

    return _torch_image_model(ViT)


def convnext_block() -> tuple[Any, dict[str, np.ndarray]]:
    """ConvNeXt: 4x4 stem, depthwise 7x7 conv, channels-last LayerNorm via permute, Linear MLP with exact
    nn.GELU, layer scale, channels-first LayerNorm in the downsampling layer, 2 stages."""
    import torch
    from torch import nn

    class LayerNorm2d(nn.LayerNorm):
        def forward(self, x):
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    class Block(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
            self.norm = nn.LayerNorm(dim, eps=1e-6)
            self.pwconv1, self.act, self.pwconv2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
            # layer scale: ConvNeXt starts it at 1e-6; a trained model has it around 0.1-1 (1e-6 would make
            # every block an identity and the block's ops could be wrong without the output noticing)
            self.gamma = nn.Parameter(0.5 + 0.1 * torch.randn(dim))

        def forward(self, x):
            h = self.dwconv(x).permute(0, 2, 3, 1)
            h = self.pwconv2(self.act(self.pwconv1(self.norm(h))))
            return x + (self.gamma * h).permute(0, 3, 1, 2)

    class ConvNeXt(nn.Module):
        def __init__(self, dims=(32, 64), classes=10):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, stride=4), LayerNorm2d(dims[0], eps=1e-6))
            self.stage1 = nn.Sequential(Block(dims[0]), Block(dims[0]))
            self.down = nn.Sequential(LayerNorm2d(dims[0], eps=1e-6), nn.Conv2d(dims[0], dims[1], 2, stride=2))
            self.stage2 = nn.Sequential(Block(dims[1]), Block(dims[1]))
            self.norm, self.head = nn.LayerNorm(dims[1], eps=1e-6), nn.Linear(dims[1], classes)

        def forward(self, image):
            x = self.stage2(self.down(self.stage1(self.stem(image))))
            return self.head(self.norm(x.mean(dim=(-2, -1))))

    return _torch_image_model(ConvNeXt)


def shufflenet() -> tuple[Any, dict[str, np.ndarray]]:
    """ShuffleNetV2 units: channel split (chunk), depthwise branches, concat, channel shuffle
    (view 5-D / transpose / reshape), stride-2 units with two branches."""
    import torch
    from torch import nn

    def channel_shuffle(x, groups):
        b, c, h, w = x.shape
        x = x.view(b, groups, c // groups, h, w)
        return torch.transpose(x, 1, 2).contiguous().view(b, c, h, w)

    def conv_bn(cin, cout, k, stride=1, groups=1, relu=True):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.stride = stride
            branch = cout // 2
            if stride > 1:
                self.branch1 = nn.Sequential(conv_bn(cin, cin, 3, stride, groups=cin, relu=False),
                                             conv_bn(cin, branch, 1))
            self.branch2 = nn.Sequential(conv_bn(cin if stride > 1 else branch, branch, 1),
                                         conv_bn(branch, branch, 3, stride, groups=branch, relu=False),
                                         conv_bn(branch, branch, 1))

        def forward(self, x):
            if self.stride == 1:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat((x1, self.branch2(x2)), dim=1)
            else:
                out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
            return channel_shuffle(out, 2)

    class ShuffleNetV2(nn.Module):
        def __init__(self, classes=10):
            super().__init__()
            self.stem = nn.Sequential(conv_bn(3, 24, 3, 2), nn.MaxPool2d(3, 2, 1))
            self.stage2 = nn.Sequential(InvertedResidual(24, 48, 2), InvertedResidual(48, 48, 1),
                                        InvertedResidual(48, 48, 1))
            self.stage3 = nn.Sequential(InvertedResidual(48, 96, 2), InvertedResidual(96, 96, 1))
            self.conv5 = conv_bn(96, 128, 1)
            self.fc = nn.Linear(128, classes)

        def forward(self, image):
            x = self.conv5(self.stage3(self.stage2(self.stem(image))))
            return self.fc(x.mean([2, 3]))

    return _torch_image_model(ShuffleNetV2)


def deeplab_aspp() -> tuple[Any, dict[str, np.ndarray]]:
    """DeepLabV3 head: ASPP with 1x1 + dilated 3x3 convs (rates 2, 4, 6), image pooling branch upsampled with
    F.interpolate(bilinear) from 1x1, projection, classifier, bilinear upsampling to the input size."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def conv_bn_relu(cin, cout, k, stride=1, dilation=1):
        pad = dilation * (k // 2)
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU())

    class ASPPPooling(nn.Sequential):
        def __init__(self, cin, cout):
            super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU())

        def forward(self, x):
            size = x.shape[-2:]
            for mod in self:
                x = mod(x)
            return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    class ASPP(nn.Module):
        def __init__(self, cin, cout=32, rates=(2, 4, 6)):
            super().__init__()
            self.convs = nn.ModuleList([conv_bn_relu(cin, cout, 1)] + [conv_bn_relu(cin, cout, 3, dilation=r)
                                                                      for r in rates] + [ASPPPooling(cin, cout)])
            self.project = nn.Sequential(conv_bn_relu(len(self.convs) * cout, cout, 1), nn.Dropout(0.5))

        def forward(self, x):
            return self.project(torch.cat([conv(x) for conv in self.convs], dim=1))

    class DeepLab(nn.Module):
        def __init__(self, classes=5):
            super().__init__()
            self.backbone = nn.Sequential(conv_bn_relu(3, 16, 3, 2), conv_bn_relu(16, 32, 3, 2),
                                          conv_bn_relu(32, 64, 3, 2), conv_bn_relu(64, 64, 3, dilation=2))
            self.head = nn.Sequential(ASPP(64), conv_bn_relu(32, 32, 3), nn.Conv2d(32, classes, 1))

        def forward(self, image):
            out = self.head(self.backbone(image))
            return F.interpolate(out, size=image.shape[-2:], mode="bilinear", align_corners=False)

    return _torch_image_model(DeepLab)


def squeeze_excite() -> tuple[Any, dict[str, np.ndarray]]:
    """Squeeze-excite inside MBConv blocks: EfficientNet style (SiLU, Sigmoid gate) and MobileNetV3 style
    (Hardswish, Hardsigmoid gate), global pooling, channel-wise multiply, residuals."""
    import torch
    from torch import nn

    class SqueezeExcite(nn.Module):
        def __init__(self, channels, squeeze, act, gate):
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.reduce, self.expand = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)
            self.act, self.gate = act(), gate()

        def forward(self, x):
            return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))

    class MBConv(nn.Module):
        def __init__(self, cin, cout, stride, expand, act, gate):
            super().__init__()
            mid = cin * expand
            self.residual = stride == 1 and cin == cout
            self.block = nn.Sequential(
                nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), act(),
                nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), act(),
                SqueezeExcite(mid, max(8, cin // 4), act, gate),
                nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.block(x)
            return x + out if self.residual else out

    class SENet(nn.Module):
        def __init__(self, classes=10):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.SiLU())
            self.blocks = nn.Sequential(MBConv(16, 16, 1, 4, nn.SiLU, nn.Sigmoid),
                                        MBConv(16, 24, 2, 4, nn.Hardswish, nn.Hardsigmoid),
                                        MBConv(24, 24, 1, 4, nn.Hardswish, nn.Hardsigmoid))
            self.fc = nn.Linear(24, classes)

        def forward(self, image):
            return self.fc(self.blocks(self.stem(image)).mean([2, 3]))

    return _torch_image_model(SENet)


def depthwise_separable() -> tuple[Any, dict[str, np.ndarray]]:
    """MobileNetV1: depthwise 3x3 + pointwise 1x1 with BN and ReLU6, strides 1 and 2, and a depthwise conv
    with channel multiplier 2 (groups=C, 2C outputs)."""
    import torch
    from torch import nn

    def dw_separable(cin, cout, stride, multiplier=1):
        mid = cin * multiplier
        return nn.Sequential(nn.Conv2d(cin, mid, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(mid),
                             nn.ReLU6(), nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6())

    class MobileNetV1(nn.Module):
        def __init__(self, classes=10):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
            self.features = nn.Sequential(dw_separable(16, 32, 1), dw_separable(32, 64, 2),
                                          dw_separable(64, 64, 1, multiplier=2), dw_separable(64, 128, 2))
            self.fc = nn.Linear(128, classes)

        def forward(self, image):
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(self.stem(image)), 1), 1))

    return _torch_image_model(MobileNetV1)


# ------------------------------------------------------------------ the zoo

TORCH_FORMATS = ("pt2", "torchscript")
IMAGE_SHAPE = (f"1,3,{IMAGE},{IMAGE}",)

ZOO: dict[str, ZooModel] = {m.name: m for m in (
    ZooModel("mobilenet_v2", "keras", ("keras", "savedmodel"), _keras_app("MobileNetV2", 96)),
    ZooModel("resnet50", "keras", ("keras",), _keras_app("ResNet50", IMAGE)),
    ZooModel("densenet121", "keras", ("keras",), _keras_app("DenseNet121", IMAGE)),
    ZooModel("efficientnet_b0", "keras", ("keras",), _keras_app("EfficientNetB0", IMAGE)),
    ZooModel("convnext_tiny", "keras", ("keras",), _keras_app("ConvNeXtTiny", IMAGE)),
    ZooModel("bert", "torch", TORCH_FORMATS, bert_classifier,
             torchscript_shapes=(f"input_ids=1,{TOKENS}:int64", f"attention_mask=1,{TOKENS}:int64")),
    ZooModel("gpt2", "torch", TORCH_FORMATS, gpt2_lm, torchscript_shapes=(f"input_ids=1,{TOKENS}:int64",)),
    ZooModel("swin", "torch", TORCH_FORMATS, swin, torchscript_shapes=IMAGE_SHAPE),
    ZooModel("vit", "torch", TORCH_FORMATS, vit, torchscript_shapes=IMAGE_SHAPE),
    ZooModel("convnext_block", "torch", TORCH_FORMATS, convnext_block, torchscript_shapes=IMAGE_SHAPE),
    ZooModel("shufflenet", "torch", TORCH_FORMATS, shufflenet, torchscript_shapes=IMAGE_SHAPE),
    ZooModel("deeplab_aspp", "torch", TORCH_FORMATS, deeplab_aspp, torchscript_shapes=IMAGE_SHAPE),
    ZooModel("squeeze_excite", "torch", TORCH_FORMATS, squeeze_excite, torchscript_shapes=IMAGE_SHAPE),
    ZooModel("depthwise_separable", "torch", TORCH_FORMATS, depthwise_separable, torchscript_shapes=IMAGE_SHAPE),
)}

CASES: list[tuple[str, str]] = [(m.name, fmt) for m in ZOO.values() for fmt in m.formats]


@dataclass
class Saved:
    """One zoo model written in each of its source formats, with the comparison inputs and its own outputs."""

    model: ZooModel
    sources: dict[str, Path]                 # format -> path
    inputs_file: Path                        # .npy (one input) or .npz keyed by input name
    reference: list[np.ndarray]              # the framework's outputs on those inputs
    build_seconds: float


def _outputs(value: Any) -> list[np.ndarray]:
    if isinstance(value, (list, tuple)):
        return [np.asarray(v) for v in value]
    return [np.asarray(value)]


def save_zoo_model(zoo: ZooModel, root: Path) -> Saved:
    """Build the model once and write it in every source format it has; run it on the comparison inputs."""
    import time
    import warnings

    t0 = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    model, inputs = zoo.build()
    sources: dict[str, Path] = {}
    if zoo.framework == "torch":
        import torch

        args = tuple(torch.from_numpy(a) for a in inputs.values())
        with torch.no_grad():
            reference = _outputs(model(*args).numpy())
            if "pt2" in zoo.formats:
                sources["pt2"] = root / f"{zoo.name}.pt2"
                torch.export.save(torch.export.export(model, args), sources["pt2"])
            if "torchscript" in zoo.formats:
                sources["torchscript"] = root / f"{zoo.name}_ts.pt"
                with warnings.catch_warnings():   # HF's shape checks: the trace is for these shapes only
                    warnings.simplefilter("ignore", torch.jit.TracerWarning)
                    traced = torch.jit.trace(model, args, check_trace=False)
                torch.jit.save(traced, sources["torchscript"])
    else:
        reference = _outputs(model(*inputs.values(), training=False))
        if "keras" in zoo.formats:
            sources["keras"] = root / f"{zoo.name}.keras"
            model.save(sources["keras"])
        if "savedmodel" in zoo.formats:
            sources["savedmodel"] = root / f"{zoo.name}_savedmodel"
            model.export(str(sources["savedmodel"]), verbose=False)
    if len(inputs) == 1:
        inputs_file = root / f"{zoo.name}_inputs.npy"
        np.save(inputs_file, next(iter(inputs.values())))
    else:
        inputs_file = root / f"{zoo.name}_inputs.npz"
        np.savez(inputs_file, **inputs)
    return Saved(zoo, sources, inputs_file, reference, time.perf_counter() - t0)
