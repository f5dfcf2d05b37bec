"""recall.remembered: a file's outputs on the same inputs are computed once per job, and only then."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from studio.runtimes import recall
from studio.runtimes.onnx_rt import OnnxRuntime


def _write_onnx(path: Path, scale: float) -> Path:
    """y = x @ (scale * W): two files of the same size that compute different things."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.full((4, 3), scale, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [weight])
    partial = path.with_name(path.name + ".partial")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), partial)
    os.replace(partial, path)
    return path


class Counting:
    """The real runtime, counting its runs."""

    def __init__(self, path: Path):
        self.runtime = OnnxRuntime(path)
        self.path, self.runs = path, 0

    def run(self, feeds):
        self.runs += 1
        return self.runtime.run(feeds)


@pytest.fixture(autouse=True)
def _forgotten():
    recall.forget()
    yield
    recall.forget()


FEEDS = {"x": np.arange(4, dtype=np.float32).reshape(1, 4)}


def test_the_same_file_on_the_same_inputs_runs_once(tmp_path):
    path = _write_onnx(tmp_path / "m.onnx", 1.0)
    first, second = Counting(path), Counting(path)
    a = recall.remembered(first, FEEDS)
    a["y"][:] = -1   # a caller's change never reaches the remembered outputs
    b = recall.remembered(second, dict(FEEDS))
    assert first.runs == 1 and second.runs == 0
    np.testing.assert_array_equal(b["y"], [[6.0, 6.0, 6.0]])


def test_other_inputs_a_rewritten_file_or_a_new_job_run_again(tmp_path):
    path = _write_onnx(tmp_path / "m.onnx", 1.0)
    recall.remembered(Counting(path), FEEDS)

    other_inputs = Counting(path)
    assert recall.remembered(other_inputs, {"x": FEEDS["x"] + 1})["y"][0, 0] == 10.0 and other_inputs.runs == 1

    _write_onnx(path, 2.0)   # same name and size, another file
    rewritten = Counting(path)
    assert recall.remembered(rewritten, FEEDS)["y"][0, 0] == 12.0 and rewritten.runs == 1

    recall.forget()
    next_job = Counting(path)
    recall.remembered(next_job, FEEDS)
    assert next_job.runs == 1


def test_a_folder_is_never_remembered(tmp_path):
    class Folder(Counting):
        def __init__(self, path: Path, folder: Path):
            super().__init__(path)
            self.path = folder   # e.g. a SavedModel

    runtimes = [Folder(_write_onnx(tmp_path / "m.onnx", 1.0), tmp_path) for _ in range(2)]
    for runtime in runtimes:
        recall.remembered(runtime, FEEDS)
    assert [r.runs for r in runtimes] == [1, 1]


def test_a_file_rewritten_in_place_runs_again(tmp_path):
    """Same path, inode and size: the modification time tells the new file from the old one."""
    path = _write_onnx(tmp_path / "m.onnx", 1.0)
    recall.remembered(Counting(path), FEEDS)
    rewritten = _write_onnx(tmp_path / "other.onnx", 2.0).read_bytes()
    inode = path.stat().st_ino
    with open(path, "r+b") as file:   # in place
        file.write(rewritten)
    later = path.stat().st_mtime_ns + 10_000_000   # as a write 10 ms later stamps it, whatever the clock's grain
    os.utime(path, ns=(later, later))
    again = Counting(path)
    assert path.stat().st_ino == inode and len(rewritten) == path.stat().st_size
    assert recall.remembered(again, FEEDS)["y"][0, 0] == 12.0 and again.runs == 1


def test_outputs_beyond_the_budget_are_not_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(recall, "MAX_BYTES", 12)   # one run's y: 3 float32 values
    path = _write_onnx(tmp_path / "m.onnx", 1.0)
    recall.remembered(Counting(path), FEEDS)
    beyond = Counting(path)
    recall.remembered(beyond, {"x": FEEDS["x"] + 1})   # 12 more bytes: over the budget, not kept
    recall.remembered(beyond, {"x": FEEDS["x"] + 1})
    kept = Counting(path)
    recall.remembered(kept, FEEDS)
    assert beyond.runs == 2 and kept.runs == 0
