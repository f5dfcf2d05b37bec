"""Input dtypes for formats that store none (TorchScript, Python factories, pickles): --input-shape's :DTYPE,
dtypes read from --inputs, the torch runtime feeding them, generated masks, and a traced BERT end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from studio.errors import StudioError
from studio.inputs import file_input_specs, make_inputs
from studio.signature import (TensorSpec, parse_input_dtypes, parse_input_shapes, parse_input_specs,
                              resolve_dtypes)
from studio_cli import run_studio

BERT_SHAPES = ("--input-shape", "input_ids=1,16:int64", "--input-shape", "attention_mask=1,16:int64")


@pytest.fixture(scope="module")
def traced_bert(tmp_path_factory) -> Path:
    import torch

    from models import torch_tiny_bert

    model, (ids, mask) = torch_tiny_bert()
    path = tmp_path_factory.mktemp("bert") / "bert.pt"
    torch.jit.save(torch.jit.trace(model, (ids, mask)), path)
    np.savez(path.with_name("ids.npz"), input_ids=ids.numpy(), attention_mask=mask.numpy())
    return path


# ---------------------------------------------------------------- parsing


def test_dtype_suffix_is_parsed_validated_and_left_out_of_the_shapes():
    values = ["input_ids=1,64:int64", "attention_mask=1,64:bool", "pixels=1,3,8,8"]
    assert parse_input_specs(values) == ({"input_ids": (1, 64), "attention_mask": (1, 64), "pixels": (1, 3, 8, 8)},
                                         {"input_ids": "int64", "attention_mask": "bool"})
    assert parse_input_shapes(values) == {"input_ids": (1, 64), "attention_mask": (1, 64), "pixels": (1, 3, 8, 8)}
    assert parse_input_dtypes(["1,3,224,224:float16"]) == {None: "float16"}
    assert parse_input_dtypes(["x=2,2: f4 "]) == {"x": "float32"}          # numpy's canonical name
    assert parse_input_dtypes(["serving:0=1,4:uint8"]) == {"serving:0": "uint8"}   # ':' in a name is fine
    for bad, fragment in ((["1,3:int65"], "unknown input dtype 'int65'"), (["x=1,2:"], "dtype after ':' is empty"),
                          (["x=1,2:complex64"], "complex64"), (["x=1,2:str"], "'str'"), (["x=1,a:int64"], "1,3,224,224")):
        with pytest.raises(StudioError, match=fragment) as info:
            parse_input_shapes(bad)
        assert "\n" not in str(info.value)


def test_bad_dtype_suffix_exits_2_with_one_line(traced_bert, tmp_path):
    for command in ("convert", "compare"):
        for value, fragment in (("1,3:int65", "unknown input dtype 'int65'"), ("x=1,2:", "dtype after ':' is empty")):
            args = [traced_bert] if command == "convert" else [traced_bert, traced_bert]
            result = run_studio(command, *args, "--input-shape", value, cwd=tmp_path)
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            assert result.returncode == 2, result.stderr
            assert len(lines) == 1 and lines[0].startswith("studio: error: bad --input-shape"), lines
            assert fragment in lines[0]
            assert list(tmp_path.iterdir()) == []


def test_dtypes_resolve_only_where_the_format_stores_none():
    untyped = (TensorSpec("input_ids", "float32", ()), TensorSpec("attention_mask", "float32", ()))
    resolved = resolve_dtypes(untyped, {"input_ids": "int64", "attention_mask": "int64"}, stored=False)
    assert [s.dtype for s in resolved] == ["int64", "int64"]
    assert resolve_dtypes((TensorSpec("x", "float32", ()),), {None: "float16"}, stored=False)[0].dtype == "float16"
    typed = (TensorSpec("x", "float32", (1, 4)),)
    assert resolve_dtypes(typed, {"x": "float32"}, stored=True) == typed
    with pytest.raises(StudioError, match="fixes it to float32"):
        resolve_dtypes(typed, {"x": "int64"}, stored=True)
    with pytest.raises(StudioError, match="unknown input 'nope'"):
        resolve_dtypes(untyped, {"nope": "int64"}, stored=False)
    with pytest.raises(StudioError, match="2 inputs"):
        resolve_dtypes(untyped, {None: "int64"}, stored=False)


def test_an_inputs_file_tells_dtypes_and_shapes(tmp_path):
    specs = [TensorSpec("input_ids", "float32", ()), TensorSpec("attention_mask", "float32", ())]
    npz = tmp_path / "ids.npz"
    np.savez(npz, input_ids=np.ones((1, 16), np.int64), attention_mask=np.ones((1, 16), np.int32))
    assert file_input_specs(npz, specs) == {"input_ids": ("int64", (1, 16)), "attention_mask": ("int32", (1, 16))}
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros((2, 3)))                                           # float64: numpy's default
    assert file_input_specs(npy, specs[:1]) == {"input_ids": ("float32", (2, 3))}
    assert file_input_specs(tmp_path / "image.png", specs[:1]) == {}


# ---------------------------------------------------------------- generated inputs


def test_masks_are_mostly_ones_with_trailing_padding_and_ids_stay_small():
    specs = [TensorSpec("input_ids", "int64", (4, 16)), TensorSpec("attention_mask", "int64", (4, 16)),
             TensorSpec("token_type_ids", "int64", (4, 16)), TensorSpec("position_ids", "int32", (1, 5)),
             TensorSpec("key_padding_mask", "bool", (2, 3))]
    arrays = make_inputs(specs, seed=3)
    ids, mask = arrays["input_ids"], arrays["attention_mask"]
    assert ids.dtype == np.int64 and 0 <= ids.min() and ids.max() < 10
    assert mask.dtype == np.int64 and set(np.unique(mask)) == {0, 1}
    for row in mask:
        valid = int(row.sum())
        assert 12 <= valid <= 15                                             # at least one zero, at most a quarter
        assert (row[:valid] == 1).all() and (row[valid:] == 0).all()        # ones, then a trailing run of zeros
    assert (arrays["token_type_ids"] == 0).all()
    assert arrays["position_ids"].tolist() == [[0, 1, 2, 3, 4]] and arrays["position_ids"].dtype == np.int32
    assert arrays["key_padding_mask"].dtype == bool and arrays["key_padding_mask"][:, 0].all()
    np.testing.assert_array_equal(make_inputs(specs, seed=3)["attention_mask"], mask)   # still seeded
    ranged = make_inputs([TensorSpec("attention_mask", "int64", (1, 64))], low=0, high=3)["attention_mask"]
    assert set(np.unique(ranged)) == {0, 1, 2}                              # an explicit range wins over the hint


# ---------------------------------------------------------------- the torch runtime


def test_torch_runtime_feeds_the_resolved_dtype(traced_bert):
    from studio.formats import detect
    from studio.runtimes.torch_rt import TorchRuntime

    runtime = TorchRuntime(detect(traced_bert))
    feeds = {"input_ids": np.arange(16, dtype=np.float32).reshape(1, 16), "attention_mask": np.ones((1, 16), np.float32)}
    with pytest.raises(StudioError, match="could not run"):                # floats: the embedding refuses them
        runtime.run(feeds)
    runtime.resolve_inputs((TensorSpec("input_ids", "int64", (1, 16)), TensorSpec("attention_mask", "int64", (1, 16))))
    assert [(s.dtype, s.shape) for s in runtime.signature.inputs] == [("int64", (1, 16))] * 2
    (out,) = runtime.run(feeds).values()                                     # cast to int64 on the way in
    assert out.shape == (1, 3) and np.isfinite(out).all()


# ---------------------------------------------------------------- a traced BERT through the CLI


def _convert_bert(source: Path, out: Path, *args: str) -> dict:
    result = run_studio("convert", source, "--to", "onnx", "--out", out, *args, cwd=out.parent)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "PASS" in result.stdout
    return json.loads((out / "report.json").read_text())


def _assert_int64_onnx_passes(report: dict) -> None:
    import onnx

    (artifact,) = report["artifacts"]
    model = onnx.load(artifact["path"])
    assert [(i.name, i.type.tensor_type.elem_type) for i in model.graph.input] == \
        [("input_ids", onnx.TensorProto.INT64), ("attention_mask", onnx.TensorProto.INT64)]
    (comparison,) = report["comparisons"]
    assert comparison["passed"] and comparison["outputs"][0]["max_abs"] <= 1e-5, comparison
    assert any("TS2EP" in note for note in artifact["notes"]), artifact["notes"]


@pytest.mark.slow
def test_traced_bert_with_dtype_suffix(traced_bert, tmp_path):
    report = _convert_bert(traced_bert, tmp_path / "out", *BERT_SHAPES)
    _assert_int64_onnx_passes(report)
    tensors = {t["name"]: t for t in report["inputs"]["tensors"]}
    assert tensors["input_ids"]["dtype"] == "int64" and 0 <= tensors["input_ids"]["min"] and tensors["input_ids"]["max"] < 10
    assert tensors["attention_mask"]["dtype"] == "int64"
    assert (tensors["attention_mask"]["min"], tensors["attention_mask"]["max"]) == (0, 1)


@pytest.mark.slow
def test_traced_bert_with_an_inputs_file_and_compare(traced_bert, tmp_path):
    npz = traced_bert.with_name("ids.npz")
    report = _convert_bert(traced_bert, tmp_path / "out", "--inputs", str(npz))
    _assert_int64_onnx_passes(report)
    assert report["inputs"]["from"] == str(npz)
    onnx_path = report["artifacts"][0]["path"]
    result = run_studio("compare", traced_bert, onnx_path, "--inputs", npz, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"][0]["max_abs"] <= 1e-5
    # without dtypes, the TorchScript inputs default to float32 and the model cannot run: the error says how
    result = run_studio("convert", traced_bert, "--to", "onnx", "--out", tmp_path / "float",
                        "--input-shape", "input_ids=1,16", "--input-shape", "attention_mask=1,16", cwd=tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.startswith("studio: error:")]
    assert result.returncode == 2 and len(lines) == 1, result.stderr   # bad input: the source's own run says so
    assert "float32[1,16]" in lines[0] and ":int64" in lines[0] and "Traceback" not in result.stderr
