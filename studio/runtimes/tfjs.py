"""Run a TF.js graph model (a folder with model.json + weight shards) in Node, with the pure-JS @tensorflow/tfjs.

The studio's Python cannot run TF.js, so each run hands the inputs to resources/tfjs_runner/runner.js (as set up by
`studio setup tfjs` in the data folder) as raw little-endian bytes plus a JSON list of names, dtypes and shapes,
and reads the outputs back the same way: exact for float32 and int32, and nothing to parse by hand. The model's
signature (names, dtypes, shapes) is read from model.json itself, so opening one needs neither Node nor TF.
TF.js has no int64 or float64: such inputs are fed as int32 / float32, as the converter made the model take them.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from studio.errors import StudioError
from studio.runtimes.base import bind_feeds, check_rank, load_failed, natural_key
from studio.signature import Signature, TensorSpec, guess_layout

RUN_TIMEOUT_S = 1800
# TF's DataType names in model.json -> numpy; TF.js computes in float32 / int32 / bool.
DTYPES = {"DT_FLOAT": "float32", "DT_INT32": "int32", "DT_BOOL": "bool", "DT_INT64": "int32", "DT_DOUBLE": "float32",
          "DT_HALF": "float32", "DT_UINT8": "int32", "DT_INT8": "int32", "DT_INT16": "int32"}
FEED_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.uint8}


def _spec(key: str, info: dict) -> TensorSpec:
    dims = info.get("tensorShape", {}).get("dim", [])
    shape = tuple(None if int(d.get("size", -1)) < 0 else int(d["size"]) for d in dims)
    return TensorSpec(key, DTYPES.get(info.get("dtype", ""), "float32"), shape, guess_layout(shape, channels_first=False))


class TfjsRuntime:
    """model.json's signature; each run() is one `node runner.js` process (load + run, outputs in model order)."""

    name = "tfjs"

    def __init__(self, path: str | Path):
        path = Path(path)
        self.path = path if path.is_dir() else path.parent
        model_json = self.path / "model.json"
        try:
            model = json.loads(model_json.read_text())
            signature = model["signature"]
            inputs = sorted(signature["inputs"].items(), key=lambda item: natural_key(item[0]))
            outputs = sorted(signature["outputs"].items(), key=lambda item: natural_key(item[0]))
            if not isinstance(model.get("weightsManifest"), list) or "modelTopology" not in model:
                raise ValueError("no modelTopology or weightsManifest: not a TF.js graph model")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise load_failed(model_json, "TF.js model", exc) from exc
        self.signature = Signature(tuple(_spec(k, v) for k, v in inputs), tuple(_spec(k, v) for k, v in outputs))
        # the runner names outputs by graph node ("Identity"); the signature by key ("output_0")
        self._output_keys = {v["name"].split(":")[0]: k for k, v in outputs}
        self.last_timing: dict = {}   # the runner's load_ms / run_ms of the latest run (scripts/bench_tfjs.py)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from studio.tfjs import env

        problem = env.node_problem() or env.runner_problem()
        if problem:
            raise StudioError(f"cannot run the TF.js model: {problem}")
        bound = bind_feeds(self.signature.inputs, feeds)
        with tempfile.TemporaryDirectory(prefix="studio-tfjs-") as tmp:
            io_dir = Path(tmp)
            listed = []
            for i, spec in enumerate(self.signature.inputs):
                check_rank(spec, bound[spec.name])
                value = np.ascontiguousarray(bound[spec.name], dtype=FEED_DTYPES.get(spec.dtype, np.float32))
                value.astype(value.dtype.newbyteorder("<"), copy=False).tofile(io_dir / f"input_{i}.bin")
                listed.append({"name": spec.name, "dtype": spec.dtype if spec.dtype in FEED_DTYPES else "float32",
                               "shape": list(value.shape), "file": f"input_{i}.bin"})
            (io_dir / "inputs.json").write_text(json.dumps(listed))
            self._node(env, io_dir)
            return self._outputs(io_dir)

    def _node(self, env, io_dir: Path) -> None:
        cmd = [env.node_executable(), str(env.runner_dir() / "runner.js"), str(self.path), str(io_dir)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=env.runner_dir())
        except subprocess.TimeoutExpired:
            raise StudioError(f"TF.js (Node) did not finish {self.path.name} in {RUN_TIMEOUT_S} s") from None
        except OSError as exc:
            raise StudioError(f"cannot start Node: {exc}") from None
        if done.returncode != 0:
            said = [line for line in done.stderr.splitlines() if line.startswith("runner: ")]
            reason = said[-1][len("runner: "):] if said else (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise StudioError(f"TF.js could not run {self.path.name}: {reason[:300]}")

    def _outputs(self, io_dir: Path) -> dict[str, np.ndarray]:
        written = json.loads((io_dir / "outputs.json").read_text())
        self.last_timing = {k: v for k, v in written.items() if k != "outputs"}
        outputs = {}
        for item in written["outputs"]:
            raw = np.fromfile(io_dir / item["file"], dtype=np.dtype(FEED_DTYPES[item["dtype"]]).newbyteorder("<"))
            value = raw.reshape(item["shape"]).astype(bool if item["dtype"] == "bool" else raw.dtype.newbyteorder("="))
            outputs[self._output_keys.get(item["name"].split(":")[0], item["name"])] = value
        order = [spec.name for spec in self.signature.outputs]
        return {name: outputs[name] for name in order if name in outputs} | \
            {name: value for name, value in outputs.items() if name not in order}
