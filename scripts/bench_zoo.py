#!/usr/bin/env python3
"""Benchmark: `studio convert` on two full-size models: wall time, peak memory and the verdicts.

- ViT-B/16 (hand-built PyTorch: 12 layers, width 768, 12 heads, MLP 3072, patch 16, 224x224, 1000 classes;
  random weights), saved with torch.export as .pt2. Targets: <= 45 s and <= 4 GB peak.
- ResNet50 (keras.applications, weights=None, 224x224, 1000 classes), BatchNorm statistics recalibrated
  on one batch of random images, saved as .keras. Target: <= 20 s.

Each is converted with `python -m studio convert X --to onnx,savedmodel,tflite --quantize float32,float16
--out DIR`, timed as a whole (the CLI's start to its exit). Peak memory is the worker's: the CLI runs the
job in a worker subprocess and waits for it, so resource.getrusage(RUSAGE_CHILDREN).ru_maxrss, read after
the CLI exits, covers it. It is read in a fresh measuring process whose only child is the CLI (ru_maxrss of
children is a maximum over every child ever waited for, so the models are built elsewhere), and checked
against psutil samples of the worker taken during the run (every 0.1 s, so they may miss a short peak).
The verdicts and max_rel of every artifact come from DIR/report.json. GB here means 1e9 bytes.

--against REV also converts each model with the studio of git revision REV (checked out in a temporary git
worktree; `python -m studio` run from there imports that tree's package), right before this tree's run, and
prints the ratios: what a change gained, measured in the same run on the same machine.

--baseline also converts the ViT with `--backend onnx2tf-tf-converter` (onnx2tf's TF-converter path, the
old route), in the same run, so the ratio is visible. It is slow and big: measured here (onnx2tf 2.6.9,
2 loaded cores) 2300 s in onnx2tf and a 21.6 GB peak, close to what a 24 GB machine has.
The models are built once, each in its own process, before anything is measured; the runs go one after
another, never in parallel.

    .venv/bin/python scripts/bench_zoo.py [--only vit|resnet50] [--baseline] [--against REV] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

GB = 1e9
TARGETS = {"vit": (45.0, 4 * GB), "resnet50": (20.0, None)}   # wall seconds, peak bytes (None: no target)
LABELS = {"vit": "ViT-B/16 (.pt2)", "resnet50": "ResNet50 (.keras)"}
SUFFIXES = {"vit": ".pt2", "resnet50": ".keras"}
SAMPLE_SECONDS = 0.1


# ------------------------------------------------------------------ the models (each built in its own process)

def build_vit(path: Path) -> None:
    import torch
    from torch import nn

    class ViT(nn.Module):
        def __init__(self, image: int = 224, patch: int = 16, width: int = 768, layers: int = 12, heads: int = 12,
                     mlp: int = 3072, classes: int = 1000):
            super().__init__()
            self.patch_embed = nn.Conv2d(3, width, kernel_size=patch, stride=patch)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
            self.pos_embed = nn.Parameter(torch.zeros(1, 1 + (image // patch) ** 2, width))
            nn.init.trunc_normal_(self.cls_token, std=0.02)
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
            self.blocks = nn.ModuleList(
                nn.TransformerEncoderLayer(width, heads, dim_feedforward=mlp, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
                for _ in range(layers))
            self.norm = nn.LayerNorm(width)
            self.head = nn.Linear(width, classes)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            x = self.patch_embed(image).flatten(2).transpose(1, 2)            # [B, 196, 768]
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
            for block in self.blocks:
                x = block(x)
            return self.head(self.norm(x[:, 0]))                               # class logits from the cls token

    torch.manual_seed(0)
    model = ViT().eval()
    example = (torch.rand(1, 3, 224, 224),)
    torch.export.save(torch.export.export(model, example), path)
    params = sum(p.numel() for p in model.parameters())
    print(f"built ViT-B/16: {params / 1e6:.1f} M parameters -> {path} ({path.stat().st_size / GB:.2f} GB)")


def build_resnet50(path: Path) -> None:
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    # Logits (classifier_activation=None), not softmax: random-init softmax probabilities are all about 1/1000,
    # well inside the float16 tolerance's atol (1e-2), so they would pass whatever the artifact computed.
    model = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3), classes=1000,
                                        classifier_activation=None)
    # Random-init BatchNorm keeps moving mean 0 / variance 1, so after a few blocks the activations of a random
    # ResNet vanish or blow up and its outputs are degenerate (and the converted outputs can't be judged).
    # Recalibrate the statistics on one batch of random images drawn like the comparison's inputs (uniform
    # [0, 1)): with momentum 0, one training-mode call sets each moving mean / variance to the batch's.
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    batch = np.random.default_rng(100).uniform(0.0, 1.0, (8, 224, 224, 3)).astype(np.float32)
    model(batch, training=True)
    for layer, momentum in zip(norms, saved):
        layer.momentum = momentum
    logits = np.asarray(model(batch[:2], training=False))
    model.save(path)
    print(f"built ResNet50: {model.count_params() / 1e6:.1f} M parameters, {len(norms)} BatchNorms recalibrated, "
          f"logits std {logits.std():.3g} -> {path} ({path.stat().st_size / GB:.2f} GB)")


BUILDERS = {"vit": build_vit, "resnet50": build_resnet50}


# ------------------------------------------------------------------ one measured CLI run (in a fresh process)

def measure(result_path: Path, log_path: Path, cmd: list[str]) -> None:
    """Run cmd, sample its process tree with psutil, then read ru_maxrss of the waited-for children."""
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peaks: dict[int, int] = {}
    names: dict[int, str] = {}
    peak_tree = 0
    with open(log_path, "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                tree = []
            total = 0
            for p in tree:
                try:
                    rss = p.memory_info().rss
                    if p.pid not in names:
                        names[p.pid] = " ".join(p.cmdline()[1:4])
                except psutil.Error:
                    continue
                total += rss
                peaks[p.pid] = max(peaks.get(p.pid, 0), rss)
            peak_tree = max(peak_tree, total)
            time.sleep(SAMPLE_SECONDS)
        seconds = time.perf_counter() - t0
    ru_maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024   # Linux: KiB
    workers = [pid for pid, name in names.items() if "studio.jobs.worker" in name]
    result = {
        "exit_code": proc.returncode, "seconds": seconds, "ru_maxrss": ru_maxrss, "ru_maxrss_before": before * 1024,
        "psutil_worker": max((peaks[pid] for pid in workers), default=0),
        "psutil_cli": peaks.get(proc.pid, 0), "psutil_tree": peak_tree,
        "processes": {str(pid): {"cmd": names.get(pid, "?"), "peak_rss": peaks[pid]} for pid in peaks},
    }
    result_path.write_text(json.dumps(result, indent=1))


# ------------------------------------------------------------------ the benchmark

@dataclass
class Run:
    key: str
    label: str
    backend: str
    out: Path
    log: Path                                              # the CLI's output
    measured: dict
    report: dict | None
    artifacts: list[dict] = field(default_factory=list)   # {name, kind, variant, backend, max_rel, passed}
    revision: str = ""                                     # --against's revision, "" for this tree

    @property
    def exit_code(self) -> int:
        return int(self.measured["exit_code"])


def run_cli(key: str, source: Path, work: Path, backend: str | None, tree: Path | None = None,
            revision: str = "") -> Run:
    """One measured conversion; tree: the checkout whose studio runs it (None: this one)."""
    tag = f"{key}-{backend or 'auto'}" + (f"-{revision}" if revision else "")
    out = work / f"{tag}_out"
    cmd = [sys.executable, "-m", "studio", "convert", str(source), "--to", "onnx,savedmodel,tflite",
           "--quantize", "float32,float16", "--out", str(out)]
    if backend:
        cmd += ["--backend", backend]
    result_path, log_path = work / f"{tag}.measure.json", work / f"{tag}.cli.log"
    print(f"[{time.strftime('%H:%M:%S')}] {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree else None   # that tree's studio, whatever the finders say
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_measure", str(result_path), str(log_path), "--",
                    *cmd], check=True, cwd=tree, env=env)
    measured = json.loads(result_path.read_text())
    print(f"  exit {measured['exit_code']} after {measured['seconds']:.1f} s; CLI output: {log_path}",
          file=sys.stderr, flush=True)
    report_path = out / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else None
    label = LABELS[key] + (f" --backend {backend}" if backend else "") + (f" at {revision}" if revision else "")
    run = Run(key, label, backend or "auto", out, log_path, measured, report, revision=revision)
    if report:
        by_path = {c.get("candidate"): c for c in report.get("comparisons", [])}
        for a in report.get("artifacts", []):
            c = by_path.get(a.get("path"), {})
            rels = [o.get("max_rel") for o in c.get("outputs", []) if o.get("max_rel") is not None]
            run.artifacts.append({"name": Path(a["path"]).name, "kind": a["kind"], "variant": a.get("variant"),
                                  "backend": a.get("backend") or "-", "max_rel": max(rels) if rels else math.nan,
                                  "passed": c.get("passed")})
    return run


def gb(value: float) -> str:
    return f"{value / GB:.2f} GB"


def print_tables(runs: list[Run]) -> None:
    print()
    print(f"{'model':<52} {'exit':>4} {'wall s':>7} {'target':>8} {'peak RSS':>9} {'target':>8}  "
          f"{'psutil: worker / CLI / tree':<28} result")
    for run in runs:
        m = run.measured
        wall_target, peak_target = TARGETS[run.key] if run.backend == "auto" and not run.revision else (None, None)
        misses = []
        if run.exit_code != 0:
            misses.append(f"exit {run.exit_code}")
        if wall_target is not None and m["seconds"] > wall_target:
            misses.append("time")
        if peak_target is not None and m["ru_maxrss"] > peak_target:
            misses.append("memory")
        if run.backend != "auto" or run.revision:
            verdict = "baseline" + ("" if run.exit_code in (0, 1) else f" (did not finish: exit {run.exit_code})")
        else:
            verdict = "MET" if not misses else "MISSED: " + ", ".join(misses)
        psutil_text = f"{gb(m['psutil_worker'])} / {gb(m['psutil_cli'])} / {gb(m['psutil_tree'])}"
        print(f"{run.label:<52} {run.exit_code:>4} {m['seconds']:>7.1f} "
              f"{('<= %.0f s' % wall_target) if wall_target else '-':>8} {gb(m['ru_maxrss']):>9} "
              f"{('<= %.0f GB' % (peak_target / GB)) if peak_target else '-':>8}  {psutil_text:<28} {verdict}")
    for run in runs:
        m = run.measured
        share = m["psutil_worker"] / m["ru_maxrss"] if m["ru_maxrss"] else 0.0
        whose = ("the worker's" if m["psutil_worker"] > m["psutil_cli"] and share > 0.9
                 else "NOT clearly the worker's")
        print(f"  {run.label}: ru_maxrss {gb(m['ru_maxrss'])} is {whose} (psutil's worker peak is {share:.0%} of it; "
              f"the CLI's own peak {gb(m['psutil_cli'])}; ru_maxrss before the run {gb(m['ru_maxrss_before'])})")
    for old in (r for r in runs if r.revision):
        new = next(r for r in runs if r.key == old.key and r.backend == "auto" and not r.revision)
        print(f"  {LABELS[old.key]}, this tree / {old.revision}: wall {new.measured['seconds'] / old.measured['seconds']:.2f}x"
              f", peak RSS {new.measured['ru_maxrss'] / old.measured['ru_maxrss']:.2f}x")
    base = next((r for r in runs if r.key == "vit" and r.backend != "auto"), None)
    new = next((r for r in runs if r.key == "vit" and r.backend == "auto" and not r.revision), None)
    if base and new:
        unfinished = "" if base.exit_code in (0, 1) else (
            f" (the baseline did not finish, exit {base.exit_code}: its time and peak are lower bounds)")
        print(f"  ViT, auto / {base.backend}: wall {new.measured['seconds'] / base.measured['seconds']:.2f}x, "
              f"peak RSS {new.measured['ru_maxrss'] / base.measured['ru_maxrss']:.2f}x{unfinished}")
    print()
    print(f"{'model':<52} {'artifact':<32} {'backend':<22} {'max_rel':>9}  verdict")
    for run in runs:
        if run.report is None:
            print(f"{run.label:<52} (no report.json)")
            continue
        for a in run.artifacts:
            verdict = {True: "PASS", False: "FAIL", None: "-"}[a["passed"]]
            print(f"{run.label:<52} {a['name']:<32} {a['backend']:<22} {a['max_rel']:>9.3g}  {verdict}")
        error = run.report.get("error")
        if error:
            print(f"  error: {error}")


def failure_details(run: Run) -> None:
    """The CLI's last lines and the worker's reasons, for a run that failed or missed a target."""
    log = run.log
    where = f"kept in {run.out}" if run.out.is_dir() else "no output folder: the job left nothing behind"
    print(f"\n--- {run.label}: exit {run.exit_code}; {where} ---", file=sys.stderr)
    logs = run.out / "logs"
    if logs.is_dir():
        print(f"job logs: {', '.join(sorted(p.name for p in logs.iterdir()))}", file=sys.stderr)
    if log.is_file():   # the job's log lines (the diff table after them is in the tables above) and its failures
        lines = log.read_text(errors="replace").splitlines()
        table = next((i for i, line in enumerate(lines) if line.startswith("Output diff")), len(lines))
        said = lines[:table] + [line for line in lines[table:] if line.lstrip().startswith(("FAIL", "error"))]
        print("\n".join(said[-60:]), file=sys.stderr)


ROOT = Path(__file__).resolve().parents[1]


def _commit(revision: str) -> str:
    """revision's short hash (for file names), or "" when it names no commit here."""
    found = subprocess.run(["git", "rev-parse", "--short", "--verify", "--quiet", f"{revision}^{{commit}}"], cwd=ROOT,
                           capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else ""


def _worktree(commit: str, where: Path) -> Path:
    """A detached checkout of commit, removed when the benchmark ends."""
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(where), commit], cwd=ROOT, check=True)
    return where


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--_measure":
        measure(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[5:])
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--_build":
        BUILDERS[sys.argv[2]](Path(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BUILDERS), help="run one model")
    parser.add_argument("--baseline", action="store_true",
                        help="also convert the ViT with --backend onnx2tf-tf-converter (slow and big: "
                             "measured ~40 min and ~22 GB peak)")
    parser.add_argument("--against", metavar="REV", help="also convert each model with the studio of git revision REV "
                        "(a temporary worktree), just before this tree's run, and print the ratios")
    parser.add_argument("--keep", action="store_true", help="keep the models and the outputs (else: only the "
                        "reports and logs of runs that failed or missed a target)")
    args = parser.parse_args()
    keys = [args.only] if args.only else ["vit", "resnet50"]
    revision = _commit(args.against) if args.against else ""
    if args.against and not revision:   # said before anything is built
        parser.error(f"--against {args.against}: not a commit in {ROOT}")
    work = Path(tempfile.mkdtemp(prefix="bench_zoo_"))
    runs: list[Run] = []
    try:
        sources = {}
        for key in keys:
            sources[key] = work / f"{key}{SUFFIXES[key]}"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--_build", key, str(sources[key])], check=True,
                           stdout=sys.stderr)
            print(f"  ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        tree = _worktree(revision, work / "against") if revision else None
        for i, key in enumerate(keys):
            pair = [(None, ""), (tree, revision)] if tree else [(None, "")]
            for where, rev in pair if i % 2 else reversed(pair):   # alternate who runs first (warm caches)
                runs.append(run_cli(key, sources[key], work, None, where, rev))
            if key == "vit" and args.baseline:
                runs.append(run_cli(key, sources[key], work, "onnx2tf-tf-converter"))
        print_tables(runs)
    finally:
        if args.against:   # the checkout goes first; what it measured stays with the rest
            subprocess.run(["git", "worktree", "remove", "--force", str(work / "against")], cwd=ROOT, check=False)
        keep = []
        for run in runs:
            wall_target, peak_target = TARGETS[run.key]
            missed = run.exit_code != 0 or (run.backend == "auto" and not run.revision and (
                run.measured["seconds"] > wall_target or (peak_target and run.measured["ru_maxrss"] > peak_target)))
            if missed:
                failure_details(run)
                keep.append(run)
        if args.keep:
            print(f"kept: {work}", file=sys.stderr)
        elif keep:
            for entry in work.iterdir():   # drop the big files; the reports, the logs and the CLI output stay
                if entry.is_dir() and entry.name.endswith("_out"):
                    for item in entry.iterdir():
                        if item.name not in ("report.json", "logs"):
                            shutil.rmtree(item) if item.is_dir() else item.unlink()
                elif entry.suffix in (".pt2", ".keras"):
                    entry.unlink()
            print(f"reports and logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r.exit_code == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
