"""inputs.py: generated inputs, --inputs files (good and hostile), and feeds adapted to converted models."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio.errors import StudioError
from studio.inputs import adapt_feeds, load_inputs, make_inputs, transpose_layout
from studio.signature import NCHW, NHWC, OTHER, Signature, TensorSpec

IMAGE = TensorSpec("input.1", "float32", (1, 3, 16, 16), NCHW)
TOKENS = TensorSpec("ids", "int64", (1, 10))


def assert_one_line_error(call, *fragments: str) -> None:
    with pytest.raises(StudioError) as info:
        call()
    message = str(info.value)
    assert message and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


# ---------------------------------------------------------------- make_inputs


def test_make_inputs_is_deterministic_per_seed():
    specs = [IMAGE, TOKENS, TensorSpec("mask", "bool", (1, 10))]
    first, again, other = make_inputs(specs, seed=7), make_inputs(specs, seed=7), make_inputs(specs, seed=8)
    assert list(first) == ["input.1", "ids", "mask"]
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["input.1"], other["input.1"])


def test_make_inputs_ranges_per_dtype_and_layout():
    specs = [IMAGE, TensorSpec("x", "float16", (4, 500)), TOKENS, TensorSpec("mask", "bool", (64,)),
             TensorSpec("small", "uint8", (200,))]
    arrays = make_inputs(specs)
    image, x, ids, mask, small = arrays.values()
    assert image.dtype == np.float32 and image.shape == (1, 3, 16, 16) and 0 <= image.min() and image.max() < 1
    assert x.dtype == np.float16 and -1 <= x.min() < -0.9 and 0.9 < x.max() <= 1
    assert ids.dtype == np.int64 and set(np.unique(ids)) <= set(range(10))
    assert mask.dtype == bool and mask.any() and not mask.all()
    assert small.dtype == np.uint8 and small.max() < 10


def test_make_inputs_custom_range_and_errors():
    arrays = make_inputs([TensorSpec("x", "float32", (1000,)), TensorSpec("ids", "int32", (1000,))], low=5, high=7)
    assert 5 <= arrays["x"].min() and arrays["x"].max() < 7
    assert set(np.unique(arrays["ids"])) == {5, 6}
    assert_one_line_error(lambda: make_inputs([TensorSpec("x", "float32", (None, 3))]), "'x'", "--input-shape")
    assert_one_line_error(lambda: make_inputs([TOKENS], low=3, high=3), "low < high")
    assert_one_line_error(lambda: make_inputs([TensorSpec("b", "int8", (2,))], low=0, high=1000), "int8")


# ---------------------------------------------------------------- load_inputs


def test_load_npy_casts_float64_and_checks_shape(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.full((1, 3, 16, 16), 0.25))                   # float64
    loaded = load_inputs(path, [IMAGE])
    assert loaded["input.1"].dtype == np.float32 and loaded["input.1"].shape == (1, 3, 16, 16)
    np.save(path, np.zeros((1, 16, 16, 3)))
    assert_one_line_error(lambda: load_inputs(path, [IMAGE]),
                          "'input.1'", "expected shape [1,3,16,16]", "given [1,16,16,3]", "transposed")


def test_load_npy_refuses_several_inputs_and_pickles(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((1, 10), dtype=np.int64))
    assert_one_line_error(lambda: load_inputs(path, [IMAGE, TOKENS]), "2 inputs", ".npz")
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_one_line_error(lambda: load_inputs(path, [TOKENS]), "cannot read x.npy", "pickled")
    npz = tmp_path / "x.npz"
    np.savez(npz, ids=np.array([{"a": 1}], dtype=object))
    assert_one_line_error(lambda: load_inputs(npz, [TOKENS]), "cannot read x.npz", "pickled")


def test_load_npz_by_name_and_single_array(tmp_path):
    path = tmp_path / "feeds.npz"
    np.savez(path, **{"input_1": np.zeros((1, 3, 16, 16), np.float32), "ids": np.arange(10).reshape(1, 10)})
    loaded = load_inputs(path, [IMAGE, TOKENS])                    # "input_1" pairs with "input.1"
    assert list(loaded) == ["input.1", "ids"] and loaded["ids"].dtype == np.int64
    np.savez(path, whatever=np.ones((1, 10), np.int32))
    assert load_inputs(path, [TOKENS])["ids"].dtype == np.int64


def test_load_npz_missing_extra_and_bad_values(tmp_path):
    path = tmp_path / "feeds.npz"
    np.savez(path, ids=np.zeros((1, 10), np.int64), extra=np.zeros(3))
    assert_one_line_error(lambda: load_inputs(path, [IMAGE, TOKENS]), "no array for input 'input.1'")
    np.savez(path, ids=np.zeros((1, 10), np.int64), **{"input.1": np.zeros((1, 3, 16, 16)), "extra": np.zeros(3)})
    assert_one_line_error(lambda: load_inputs(path, [IMAGE, TOKENS]), "unknown inputs: extra")
    np.savez(path)
    assert_one_line_error(lambda: load_inputs(path, [TOKENS]), "holds no arrays")
    np.save(tmp_path / "one.npy", np.zeros((1, 10)))
    (tmp_path / "one.npy").rename(path)
    assert_one_line_error(lambda: load_inputs(path, [TOKENS]), "is an .npy array, not an .npz")
    np.savez(path, ids=np.full((1, 10), 0.5))
    assert_one_line_error(lambda: load_inputs(path, [TOKENS]), "'ids'", "not whole numbers")
    np.savez(path, ids=np.full((1, 10), "text"))
    assert_one_line_error(lambda: load_inputs(path, [TOKENS]), "'ids'", "expects int64")


def make_png(path, size=(20, 30), color=(255, 0, 51), mode="RGB"):
    Image.new(mode, size, color).save(path)
    return path


@pytest.mark.parametrize("layout,shape,channel_axis", [(NCHW, (1, 3, 16, 12), 1), (NHWC, (1, 16, 12, 3), 3)])
def test_load_image_resizes_scales_and_lays_out(tmp_path, layout, shape, channel_axis):
    spec = TensorSpec("image", "float32", shape, layout)
    array = load_inputs(make_png(tmp_path / "cat.png"), [spec])["image"]
    assert array.shape == shape and array.dtype == np.float32
    per_channel = [float(np.take(array, c, axis=channel_axis).mean()) for c in range(3)]
    assert per_channel == pytest.approx([1.0, 0.0, 51 / 255])


def test_load_grayscale_image(tmp_path):
    spec = TensorSpec("digit", "float32", (1, 28, 28, 1), NHWC)
    array = load_inputs(make_png(tmp_path / "d.bmp", size=(28, 28), color=128, mode="L"), [spec])["digit"]
    assert array.shape == (1, 28, 28, 1) and array.max() == pytest.approx(128 / 255)


def test_image_errors(tmp_path):
    png = make_png(tmp_path / "cat.png")
    assert_one_line_error(lambda: load_inputs(png, [IMAGE, TOKENS]), "one image input")
    assert_one_line_error(lambda: load_inputs(png, [TOKENS]), "not an image input")


@pytest.mark.parametrize("name,content", [
    ("random.npy", b"\x93NUMPY garbage"),
    ("random.npz", bytes(range(256)) * 4),
    ("empty.npz", b""),
    ("random.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50),
    ("random.jpg", b"not a jpeg at all"),
    ("notes.txt", b"hello"),
])
def test_hostile_files_give_one_line(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    spec = IMAGE if name.endswith((".png", ".jpg")) else TOKENS
    assert_one_line_error(lambda: load_inputs(path, [spec]), name)
    if name.endswith((".npy", ".npz")) and not content.startswith(b"\x93NUMPY"):
        assert_one_line_error(lambda: load_inputs(path, [spec]), "neither a .npy array nor an .npz archive")


def test_truncated_npz_and_missing_paths(tmp_path):
    path = tmp_path / "cut.npz"
    np.savez(path, ids=np.zeros((1, 10), np.int64))
    path.write_bytes(path.read_bytes()[:-40])
    assert_one_line_error(lambda: load_inputs(path, [TOKENS]), "cut.npz")
    assert_one_line_error(lambda: load_inputs(tmp_path / "nope.npy", [TOKENS]), "not found")
    assert_one_line_error(lambda: load_inputs(tmp_path, [TOKENS]), "folder")


# ---------------------------------------------------------------- layouts and adapting feeds


def test_transpose_layout():
    nchw = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    nhwc = transpose_layout(nchw, NCHW, NHWC)
    assert nhwc.shape == (2, 4, 5, 3) and nhwc[1, 2, 3, 0] == nchw[1, 0, 2, 3]
    np.testing.assert_array_equal(transpose_layout(nhwc, NHWC, NCHW), nchw)
    assert transpose_layout(nchw, NCHW, NCHW) is nchw and transpose_layout(nchw, OTHER, NHWC) is nchw
    assert transpose_layout(np.zeros((1, 3, 7)), "NCW", "NWC").shape == (1, 7, 3)
    assert_one_line_error(lambda: transpose_layout(nchw, NCHW, "NWC"), "NCHW", "NWC")


def test_adapt_feeds_renames_transposes_and_casts():
    source = [IMAGE, TOKENS]
    feeds = make_inputs(source, seed=3)
    target = Signature(inputs=(TensorSpec("serving_default_ids:0", "int32", (1, 10)),
                               TensorSpec("serving_default_input_1:0", "float32", (1, 16, 16, 3), NHWC)))
    adapted = adapt_feeds(feeds, source, target, {"input.1": NHWC})
    assert list(adapted) == ["serving_default_ids:0", "serving_default_input_1:0"]
    np.testing.assert_array_equal(adapted["serving_default_input_1:0"], feeds["input.1"].transpose(0, 2, 3, 1))
    assert adapted["serving_default_ids:0"].dtype == np.int32
    np.testing.assert_array_equal(adapted["serving_default_ids:0"], feeds["ids"])


def test_adapt_feeds_finds_a_unique_permutation_and_pairs_by_order():
    source = [TensorSpec("tokens", "float32", (1, 10, 32))]
    feeds = make_inputs(source)
    target = Signature(inputs=(TensorSpec("x", "float32", (1, 32, 10)),))     # onnx2tf swapped the axes
    adapted = adapt_feeds(feeds, source, target, {})
    np.testing.assert_array_equal(adapted["x"], feeds["tokens"].transpose(0, 2, 1))


def test_adapt_feeds_prefers_the_mirrored_layout_when_dims_are_dynamic():
    feeds = make_inputs([IMAGE])
    target = Signature(inputs=(TensorSpec("x", "float32", (None, None, None, 3)),))  # NHWC, nothing else known
    adapted = adapt_feeds(feeds, [IMAGE], target, {})
    np.testing.assert_array_equal(adapted["x"], feeds["input.1"].transpose(0, 2, 3, 1))


def test_adapt_feeds_errors():
    source = [TensorSpec("a", "float32", (2, 2))]
    feeds = {"a": np.zeros((2, 2), np.float32)}
    two = Signature(inputs=(TensorSpec("x", "float32", (2, 2)), TensorSpec("y", "float32", (2, 2))))
    assert_one_line_error(lambda: adapt_feeds(feeds, source, two, {}), "cannot pair inputs")
    wrong = Signature(inputs=(TensorSpec("x", "float32", (3, 2)),))
    assert_one_line_error(lambda: adapt_feeds(feeds, source, wrong, {}), "'x'", "[3,2]")


# ---------------------------------------------------------------- one implementation each


def test_shape_text_is_the_one_way_a_shape_is_written():
    from studio.signature import shape_text

    assert shape_text((1, 3, 224, 224)) == "[1,3,224,224]"                     # the CLI's and errors' form
    assert shape_text([None, 3, 16, 16], sep=", ") == "[?, 3, 16, 16]"         # the GUI's and the HTML report's
    assert shape_text((1, None), sep=", ", brackets=False) == "1, ?"           # an editable cell's bare dims
    assert shape_text(()) == "[]" and shape_text(None) == "?" and shape_text(None, unknown="[unknown]") == "[unknown]"
    assert TensorSpec("x", "float32", (None, 3), OTHER).describe() == "x: float32[?,3] other"


def test_every_accepted_input_image_type_loads(tmp_path):
    """INPUT_SUFFIXES is the one list (CLI help, GUI dialogs and drops, --inputs, --calibration folders): every
    image type in it really loads."""
    from studio.inputs import ARRAY_SUFFIXES, IMAGE_SUFFIXES, INPUT_SUFFIXES, INPUTS_FILE_FILTER, INPUTS_HELP
    from studio.stages import calibration

    assert set(INPUT_SUFFIXES) == set(ARRAY_SUFFIXES) | set(IMAGE_SUFFIXES) and ".bmp" in IMAGE_SUFFIXES
    assert calibration.IMAGE_SUFFIXES is IMAGE_SUFFIXES
    assert all(f"*{suffix}" in INPUTS_FILE_FILTER for suffix in INPUT_SUFFIXES)
    assert all(suffix in INPUTS_HELP for suffix in IMAGE_SUFFIXES)
    pixels = (np.arange(16 * 16 * 3) % 251).astype(np.uint8).reshape(16, 16, 3)
    for suffix in IMAGE_SUFFIXES:
        path = tmp_path / f"image{suffix}"
        Image.fromarray(pixels).save(path)
        array = load_inputs(path, [IMAGE])["input.1"]
        assert array.shape == (1, 3, 16, 16) and array.dtype == np.float32, suffix
