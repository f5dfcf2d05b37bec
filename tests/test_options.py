"""The options schema: every field goes to the command line and comes back the same; bad values are one line."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from studio.errors import StudioError
from studio.options import (CompareOptions, ConvertOptions, ExplainOptions, add_arguments, from_args, option_of,
                            to_argv)

# A value other than the default for every field (a path field gets a real file, made by the test).
NOT_DEFAULT = {"input_shapes": {"x": [2, 3, 8, 8], "ids": [1, 16]}, "input_dtypes": {"ids": "int64"},
               "seed": 7, "input_range": [0.0, 255.0], "atol": 0.001, "rtol": 0.25,
               "targets": ["onnx", "tflite"], "variants": ["float16", "int8"], "opset": 17,
               "backend": "onnx2tf-tf-converter", "keep_layout": True, "explain": True, "latency": True, "serving": True,
               "serving_version": 3, "variant": "dynamic_int8",
               "top": 3}


def parse(cls, argv: list[str]):
    parser = argparse.ArgumentParser()
    add_arguments(parser, cls)
    return from_args(parser.parse_args(argv), cls)


@pytest.mark.parametrize("cls", [ConvertOptions, CompareOptions, ExplainOptions])
def test_every_field_round_trips_through_the_command_line(cls, tmp_path):
    data = tmp_path / "inputs.npy"
    data.write_bytes(b"")
    values = {f.name: NOT_DEFAULT.get(f.name, str(data)) for f in fields(cls)}
    options = cls(**values)
    assert all(getattr(options, f.name) != getattr(cls(), f.name) for f in fields(cls)), "a field kept its default"
    argv = to_argv(options)
    assert parse(cls, argv) == options, argv
    assert parse(cls, []) == cls() and to_argv(cls()) == []


def test_every_field_has_a_flag_or_rides_on_one():
    for cls in (ConvertOptions, CompareOptions, ExplainOptions):
        for f in fields(cls):
            opt = option_of(cls, f.name)
            assert opt.flag or (opt.via and option_of(cls, opt.via).flag), f.name
            assert opt.help, f.name


@pytest.mark.parametrize("argv, message", [
    (["--to", "tflite,pdf"], "--to 'tflite,pdf': choose from onnx,savedmodel,tflite"),
    (["--quantize", ""], "--quantize '': choose from"),
    (["--opset", "99"], "--opset 99: choose an opset between 7 and 23"),
    (["--atol", "-1"], "--atol must be a number >= 0"),
    (["--input-range", "1,0"], "LOW must be below HIGH"),
    (["--calibration", "/no/such/data.npz"], "--calibration /no/such/data.npz: no such file or folder"),
    (["--input-shape", "x=1,3:int65"], "int65"),
    (["--serving-version", "0"], "--serving-version 0: give 1 or more"),
])
def test_bad_values_name_their_flag(argv, message):
    with pytest.raises(StudioError, match=None) as err:
        parse(ConvertOptions, argv)
    assert message in str(err.value)


def test_dynamic_range_spellings_and_duplicates_are_one_variant():
    assert parse(ConvertOptions, ["--quantize", "float32,dynamic-range,dynamic_int8"]).variants == \
        ["float32", "dynamic_int8"]
