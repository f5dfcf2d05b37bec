"""Decompositions for fused PyTorch ops that a traced TorchScript model records and no ONNX exporter knows.

nn.MultiheadAttention (torchvision's ViT, nn.TransformerEncoderLayer) takes a fused "fast path" in eval
mode without grad, and torch.jit.trace records it as aten::_native_multi_head_attention: the dynamo
exporter cannot translate it and the TorchScript exporter refuses it. torch ships no decomposition for
it, so here is one in plain aten ops (projections, scaled dot-product softmax, output projection), with
the fast path's mask conventions. Imported in the worker only (torch).
"""

from __future__ import annotations

import math
from typing import Any


def native_multi_head_attention(query: Any, key: Any, value: Any, embed_dim: int, num_head: int, qkv_weight: Any,
                                qkv_bias: Any, proj_weight: Any, proj_bias: Any, mask: Any = None,
                                need_weights: bool = True, average_attn_weights: bool = True,
                                mask_type: int | None = None) -> tuple[Any, Any]:
    """aten::_native_multi_head_attention on batch-first [B, L, E] inputs, as aten ops.

    mask_type (the fast path's): 0 an attention mask [L, S], 1 a key padding mask [B, S], 2 a merged
    mask [B, H, L, S]; a bool mask is True where attention is not allowed, a float mask is added.
    """
    import torch
    from torch.nn import functional as F

    w_q, w_k, w_v = qkv_weight.chunk(3)
    b_q, b_k, b_v = qkv_bias.chunk(3)
    batch, target, source = query.shape[0], query.shape[1], key.shape[1]
    head_dim = embed_dim // num_head

    def heads(x: Any, length: int) -> Any:
        return x.reshape(batch, length, num_head, head_dim).transpose(1, 2)

    q = heads(F.linear(query, w_q, b_q), target)
    k = heads(F.linear(key, w_k, b_k), source)
    v = heads(F.linear(value, w_v, b_v), source)
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(head_dim)
    if mask is not None:
        if mask_type == 1 or (mask_type is None and mask.dim() == 2 and mask.shape[0] == batch
                              and mask.shape[1] == source and batch != target):
            mask = mask.reshape(batch, 1, 1, source)
        elif mask.dim() == 2:
            mask = mask.reshape(1, 1, target, source)
        scores = scores.masked_fill(mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = torch.softmax(scores, dim=-1)
    out = torch.matmul(weights, v).transpose(1, 2).reshape(batch, target, embed_dim)
    out = F.linear(out, proj_weight, proj_bias)
    if not need_weights:
        return out, out.new_empty(0)
    return out, weights.mean(dim=1) if average_attn_weights else weights


def decompose_fused_ops(program: Any) -> Any:
    """The ExportedProgram with the fused ops above replaced by their decompositions (unchanged if it has none)."""
    import torch

    fused = {torch.ops.aten._native_multi_head_attention.default: native_multi_head_attention}
    used = {node.target for node in program.graph.nodes if node.op == "call_function"}
    table = {op: fn for op, fn in fused.items() if op in used}
    return program.run_decompositions(table) if table else program
