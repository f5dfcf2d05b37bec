"""Calibration data, layouts, Flex detection and ONNX chores: the small pieces the stages stand on."""

from __future__ import annotations


import numpy as np
import pytest

from studio.errors import StudioError
from studio.signature import NCHW, NHWC, OTHER, TensorSpec
from studio.stages import calibration
from studio.stages.layouts import TfInput, converted_layout, source_layout


def tf_input(name="image", shape=(1, 3, 8, 8), layout=NCHW, tf_layout=NHWC) -> TfInput:
    return TfInput(name, name, name, "float32", shape, layout, tf_layout)


def test_generated_images_are_deterministic_image_like_and_in_range():
    a = calibration.image_like(4, 32, 40, 3, seed=0)
    assert a.shape == (4, 32, 40, 3) and a.dtype == np.float32
    assert np.array_equal(a, calibration.image_like(4, 32, 40, 3, seed=0))
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.std() > 0.1
    # smooth like a photo: neighbouring pixels differ far less than in uniform noise (~0.33)
    assert np.abs(np.diff(a, axis=2)).mean() < 0.05
    assert not np.array_equal(a[0], a[1])


def test_the_onnx2tf_sample_has_the_name_and_shape_onnx2tf_reads(tmp_path):
    path = calibration.write_onnx2tf_sample(tmp_path)
    assert path.name == "calibration_image_sample_data_20x128x128x3_float32.npy"
    data = np.load(path)
    assert data.shape == (20, 128, 128, 3) and data.dtype == np.float32


def test_onnx2tf_reads_our_sample_instead_of_downloading(tmp_path, monkeypatch):
    """The guard catches onnx2tf's download in an empty folder; with our file there, no connection is made."""
    from onnx2tf.utils.common_functions import download_test_image_data

    from .conftest import NETWORK_ATTEMPTS, no_network

    monkeypatch.chdir(tmp_path)
    before = len(NETWORK_ATTEMPTS)
    try:
        with no_network(), pytest.raises(Exception):
            download_test_image_data()
        assert len(NETWORK_ATTEMPTS) > before
    finally:
        del NETWORK_ATTEMPTS[before:]
    calibration.write_onnx2tf_sample(tmp_path)
    with no_network():
        data = download_test_image_data()
    assert len(NETWORK_ATTEMPTS) == before
    assert np.array_equal(data, calibration.image_like(20, 128, 128, 3, seed=0))


def test_generated_calibration_follows_each_inputs_tf_layout():
    inputs = [tf_input(), tf_input("kept", layout=NCHW, tf_layout=NCHW), tf_input("tokens", (1, 10, 32), OTHER, OTHER)]
    data = calibration.generated(inputs, seed=0)
    assert data["image"].shape == (20, 8, 8, 3)
    assert data["kept"].shape == (20, 3, 8, 8)
    assert data["tokens"].shape == (20, 10, 32) and data["tokens"].dtype == np.float32


def test_user_calibration_npy_in_the_source_layout_is_moved_to_the_tf_layout(tmp_path):
    samples = np.random.default_rng(0).random((5, 3, 8, 8), dtype=np.float32)
    np.save(tmp_path / "c.npy", samples)
    data = calibration.from_user(tmp_path / "c.npy", [tf_input()])
    assert np.array_equal(data["image"], samples.transpose(0, 2, 3, 1))
    np.save(tmp_path / "one.npy", samples[0])                       # one sample, no batch axis
    assert calibration.from_user(tmp_path / "one.npy", [tf_input()])["image"].shape == (1, 8, 8, 3)


def test_user_calibration_npz_is_keyed_by_input_name(tmp_path):
    inputs = [tf_input(), tf_input("tokens", (1, 10, 32), OTHER, OTHER)]
    np.savez(tmp_path / "c.npz", image=np.zeros((2, 8, 8, 3), np.float32), tokens=np.ones((2, 10, 32)))
    data = calibration.from_user(tmp_path / "c.npz", inputs)
    assert data["image"].shape == (2, 8, 8, 3) and data["tokens"].dtype == np.float32
    np.savez(tmp_path / "partial.npz", image=np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(StudioError, match="has no array for tokens"):
        calibration.from_user(tmp_path / "partial.npz", inputs)


def test_user_calibration_from_a_folder_of_images(tmp_path):
    from PIL import Image

    for i in range(3):
        Image.fromarray(np.full((20, 30, 3), 60 * i, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    data = calibration.from_user(tmp_path, [tf_input()])["image"]
    assert data.shape == (3, 8, 8, 3) and np.isclose(data[2].max(), 120 / 255)
    kept = calibration.from_user(tmp_path, [tf_input(tf_layout=NCHW)])["image"]
    assert kept.shape == (3, 3, 8, 8)


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "no such file or folder"),
    (lambda p: np.save(p / "c.npy", np.zeros((2, 5))), "does not fit input 'image'"),
    (lambda p: (p / "c.txt").write_text("x"), "expected a .npy, a .npz or a folder of images"),
])
def test_bad_user_calibration_is_a_one_line_usage_error(tmp_path, setup, message):
    setup(tmp_path)
    target = next((p for p in tmp_path.iterdir()), tmp_path / "missing.npy")
    with pytest.raises(StudioError, match=message) as err:
        calibration.from_user(target, [tf_input()])
    assert "\n" not in str(err.value)


def test_layouts_image_inputs_move_to_nhwc_unless_kept():
    assert converted_layout(NCHW, keep_layout=False) == NHWC
    assert converted_layout(NCHW, keep_layout=True) == NCHW
    assert converted_layout(NHWC, keep_layout=False) == NHWC
    assert converted_layout(OTHER, keep_layout=False) == OTHER
    assert tf_input(shape=(1, 3, 24, 32)).tf_shape == (1, 24, 32, 3)


def test_a_layout_read_before_the_shape_was_known_is_guessed_again():
    """TorchScript and nn.Module signatures say "other" with no shape; after --input-shape we know better."""
    assert source_layout(TensorSpec("x", "float32", (1, 3, 224, 224), OTHER), "pytorch") == NCHW
    assert source_layout(TensorSpec("x", "float32", (1, 224, 224, 3), OTHER), "tensorflow") == NHWC
    assert source_layout(TensorSpec("x", "float32", (1, 10, 32), OTHER), "pytorch") == OTHER


def test_flex_ops_are_found_in_a_raw_onnx2tf_conversion_of_exact_gelu(onnx_runs, tmp_path):
    """Straight onnx2tf on the transformer block's ONNX emits FlexErf; flex_ops reads it from the file."""
    import shutil

    from .conftest import no_network
    from studio.stages.backends import BACKENDS, BackendRequest
    from studio.stages.flex import custom_ops, flex_ops, tflite_io
    from studio.stages.layouts import TfInput

    shutil.copy(onnx_runs["torch_block"].one("onnx").path, tmp_path / "block.onnx")
    calibration.write_onnx2tf_sample(tmp_path)
    tokens = TfInput("tokens", "tokens", "tokens", "float32", (1, 10, 32), OTHER, OTHER)
    with no_network():
        result = BACKENDS["onnx2tf"].convert(BackendRequest(tmp_path / "block.onnx", tmp_path, [tokens], ("float32",)))
    raw = result.tflite["float32"]
    assert flex_ops(raw) == ["FlexErf"] and custom_ops(raw) == ["FlexErf"]
    inputs, outputs = tflite_io(raw)
    assert inputs == [("tokens", (1, 10, 32))] and [shape for _, shape in outputs] == [(1, 10, 32)]


def test_unknown_operators_are_named(tmp_path):
    from onnx import TensorProto, helper

    from studio.stages.onnx_files import dynamic_inputs, unknown_operators

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Erfinv", ["r"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    assert unknown_operators(model) == ["Erfinv"]
    assert dynamic_inputs(model) == ["x"]
