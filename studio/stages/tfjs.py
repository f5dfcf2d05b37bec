"""SavedModel -> TF.js graph models (float32, float16 and uint8 weights), by tensorflowjs in its own environment.

tensorflowjs 4.22.0 needs TensorFlow 2.19, which cannot live beside the studio's TF 2.21, so the converter runs as
a subprocess of the venv `studio setup tfjs` made (studio.tfjs). It converts the job's own SavedModel, the one the
job verifies too (asking for tfjs asks for the SavedModel: ConvertOptions), so a TF.js model keeps the SavedModel's
signature and input layouts (NHWC images). One converter process makes every variant: TensorFlow loads once.

Variants come from --quantize through studio.artifacts.TFJS_VARIANTS (float32, float16, dynamic_int8 -> uint8);
int8 has no TF.js form and is skipped with a log line.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from studio.artifacts import TFJS_VARIANTS, Artifact, artifact_name, path_bytes
from studio.errors import StageError
from studio.formats import Format
from studio.stages.base import StageContext

CONVERTER_TIMEOUT_S = 3600


class SavedModelToTfjs:
    name = "savedmodel->tfjs"
    consumes = ("savedmodel",)
    produces = ("tfjs",)

    def run(self, ctx: StageContext) -> list[Artifact]:
        from studio.tfjs import env

        problem = env.converter_problem()
        if problem:
            raise StageError(self.name, problem)
        savedmodel, layout = self._savedmodel(ctx)
        variants = tfjs_variants(ctx.options.variants, ctx.log)
        outputs = {v: ctx.work_dir / artifact_name(ctx.source.stem, "tfjs", v) for v in variants}
        log_path = (ctx.log_dir or ctx.work_dir) / "tfjs-converter.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        job_file, result_file = ctx.work_dir / "tfjs-job.json", ctx.work_dir / "tfjs-result.json"
        job_file.write_text(json.dumps({"savedmodel": str(savedmodel),
                                        "outputs": [{"variant": v, "dir": str(d)} for v, d in outputs.items()]}))
        ctx.progress(0.05, f"tensorflowjs {env.PINS['tensorflowjs']}: converting {', '.join(variants)}")
        t0 = time.perf_counter()
        self._convert(ctx, [str(env.venv_python()), str(env.converter_script()), str(job_file), str(result_file)],
                      log_path, len(variants))
        result = _read_result(result_file)
        job_file.unlink(missing_ok=True)
        result_file.unlink(missing_ok=True)
        if "error" in result:
            raise StageError(self.name, f"{result['error']} (log: {log_path})")
        ctx.log(f"tensorflowjs converted {', '.join(variants)} in {time.perf_counter() - t0:.1f} s ("
                + ", ".join(f"{v} {s:.1f} s" for v, s in result.get("seconds", {}).items()) + ")")
        artifacts = []
        for variant, folder in outputs.items():
            if not (folder / "model.json").is_file():
                raise StageError(self.name, f"the converter wrote no model.json for {variant} (log: {log_path})")
            artifacts.append(Artifact(kind="tfjs", variant=variant, path=str(folder), bytes=path_bytes(folder),
                                      input_layout=dict(layout), produced_by=self.name,
                                      backend=f"tensorflowjs {env.PINS['tensorflowjs']}",
                                      notes=[f"TF.js graph model ({variant} weights); verified in Node with "
                                             f"@tensorflow/tfjs {env.TFJS_NPM_VERSION} (CPU backend)"]))
        ctx.progress(1.0, f"{len(artifacts)} TF.js models written")
        return artifacts

    def _savedmodel(self, ctx: StageContext) -> tuple[Path, dict[str, str]]:
        """The job's SavedModel (the one it verifies), or the source when it is one."""
        for artifact in reversed(ctx.previous):
            if artifact.kind == "savedmodel" and Path(artifact.path).is_dir():
                return Path(artifact.path), artifact.input_layout
        if ctx.source.format is Format.SAVEDMODEL:
            return ctx.source.path, {spec.name: spec.layout or "other" for spec in ctx.signature.inputs}
        raise StageError(self.name, "no SavedModel to convert (tfjs is made from the job's savedmodel target)")

    def _convert(self, ctx: StageContext, cmd: list[str], log_path: Path, count: int) -> None:
        """Run the converter; its "studio-tfjs:" lines move the progress bar, everything goes to the log."""
        done = 0
        with open(log_path, "a") as log:
            log.write(f"$ {' '.join(cmd)}\n")
            log.flush()
            process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=_quiet_env())
            try:
                for line in process.stdout:   # type: ignore[union-attr]
                    log.write(line)
                    if line.startswith("studio-tfjs: ") and line.rstrip().endswith(" s"):
                        done += 1
                        ctx.progress(0.05 + 0.9 * done / count, line[len("studio-tfjs: "):].strip())
                process.wait(timeout=CONVERTER_TIMEOUT_S)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()


def tfjs_variants(quantize: list[str], log=lambda message: None) -> list[str]:
    """The TF.js variants --quantize asks for (studio.artifacts.TFJS_VARIANTS); float32 when it maps to none."""
    variants = list(dict.fromkeys(TFJS_VARIANTS[q] for q in quantize if q in TFJS_VARIANTS))
    if "int8" in quantize:
        log("TF.js has no full-integer (int8) model: --quantize int8 makes no TF.js file")
    if not variants:
        log("no --quantize value has a TF.js form: making the float32 TF.js model")
        variants = ["float32"]
    return variants


def _read_result(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {"error": "the converter stopped without a result (it crashed or was killed)"}


def _quiet_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "PYTHONUNBUFFERED": "1"})
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):   # the studio's own environment must not leak in
        env.pop(var, None)
    return env
