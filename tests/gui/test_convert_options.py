"""Every option set in the convert panel reaches the request, and "Copy command" parses back to the same request."""

from __future__ import annotations

import shlex
from dataclasses import fields
from pathlib import Path

from studio.formats import Format, Source
from studio.gui.convert_panel import ConvertPanel
from studio.options import ConvertOptions, from_args, option_of


def test_gui_state_to_command_line_to_request_round_trips_every_option(qtbot, tmp_path):
    from studio import cli

    calibration = tmp_path / "calibration.npz"
    calibration.write_bytes(b"")
    inputs = tmp_path / "inputs.npz"
    inputs.write_bytes(b"")
    wanted = ConvertOptions(input_shapes={"input_ids": [1, 16], "pixels": [2, 3, 8, 8]},
                            input_dtypes={"input_ids": "int64", "pixels": "float32"}, inputs_path=str(inputs), seed=5,
                            input_range=[0.0, 1.0], atol=0.01, rtol=0.1, targets=["onnx", "tflite"],
                            variants=["float16", "int8"], calibration=str(calibration), opset=17,
                            backend="onnx2tf", keep_layout=True, explain=True)
    not_in_the_panel = {"input_range", "atol", "rtol", "latency",   # CLI-only today: the panel leaves them at
                        "serving", "serving_version"}               # their defaults
    for f in fields(ConvertOptions):
        assert f.name in not_in_the_panel or option_of(ConvertOptions, f.name).control or \
            f.name in ("inputs_path", "seed"), f"{f.name}: no control in the window and not listed as CLI-only"

    panel = ConvertPanel()
    qtbot.addWidget(panel)
    panel.set_source(Source(tmp_path / "model.pt", Format.TORCHSCRIPT),   # stores no shapes or dtypes
                     [{"name": "input_ids", "dtype": "float32", "shape": [], "layout": "other"},
                      {"name": "pixels", "dtype": "float32", "shape": [], "layout": "other"}])
    panel.set_options(wanted)
    panel.output.setText(str(tmp_path))
    for row, name in enumerate(("input_ids", "pixels")):
        panel.shapes.item(row, 2).setText(",".join(map(str, wanted.input_shapes[name])))
    panel.shapes.item(0, 1).setText("int64")
    assert panel.is_ready(), panel.problems()

    request = panel.build_request(str(tmp_path / "out"), inputs_path=str(inputs), seed=5)
    expected = ConvertOptions(**{f.name: getattr(wanted, f.name) if f.name not in not_in_the_panel
                                 else getattr(ConvertOptions(), f.name) for f in fields(ConvertOptions)})
    assert request.options == expected

    command = panel.command_line(request.out_dir, inputs_path=str(inputs), seed=5)
    args = cli.build_parser().parse_args(shlex.split(command)[1:])
    assert from_args(args, ConvertOptions) == request.options
    assert str(Path(args.out).resolve()) == request.out_dir and args.source == [str(tmp_path / "model.pt")]
