"""The tensors of a few layers, saved for the window's scatter and histogram: the first divergent, the worst
and (int8) the ones that lose the most. Which those are is known only once every layer is compared, so the
layers that may end up among them (every failing one up to a cap, the worst so far) are saved as they stream by
and the rest removed at the end: a bounded number of files, never every tensor of the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.compare import align, alignments

MAX_FAILING_KEPT = 20     # failing layers saved in graph order (the first divergent one is among the first)


class SampleKeeper:
    def __init__(self, folder: Path | None, top: int):
        self.folder, self.top = folder, top
        self.saved: dict[str, tuple[float, dict[str, str]]] = {}    # ONNX value -> (error_ratio, paths)
        self.failing = 0

    def offer(self, name: str, reference: np.ndarray, candidate: np.ndarray, result: dict) -> None:
        if self.folder is None or not isinstance(result, dict):
            return
        ratio = float(result.get("error_ratio") or 0.0)
        failing = not result.get("passed") and self.failing < MAX_FAILING_KEPT
        worst_so_far = sorted((r for r, _ in self.saved.values()), reverse=True)[:self.top]
        if not failing and len(worst_so_far) >= self.top and ratio <= worst_so_far[-1]:
            return
        self.failing += failing
        reference = np.asarray(reference)
        perms = alignments(reference.shape, np.shape(candidate))
        aligned = align(np.asarray(candidate), reference.shape, perms[0] if perms else None)
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = f"{len(self.saved)}"
        paths = {"reference": str(self.folder / f"{stem}_reference.npy"),
                 "candidate": str(self.folder / f"{stem}_candidate.npy")}
        np.save(paths["reference"], reference)
        np.save(paths["candidate"], aligned)
        self.saved[name] = (ratio, paths)

    def keep_for(self, report) -> None:
        """Keep the files of the report's first divergent, worst and growth rows; remove the others."""
        wanted = {*report.worst, *report.growth}
        if report.first_divergent is not None:
            wanted.add(report.first_divergent)
        names = {report.rows[i].name: i for i in wanted}
        samples = {}
        for name, (_, paths) in self.saved.items():
            if name in names:
                samples[str(names[name])] = paths
            else:
                for path in paths.values():
                    Path(path).unlink(missing_ok=True)
        report.samples = samples
