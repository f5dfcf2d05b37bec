"""Why a float16 artifact drifts: the weights float16 cannot hold, or float16's rounding amplified by the model.

A float16 TFLite keeps float32 arithmetic and stores its weights in float16, so its only error is the rounding
of those weights. For each compared layer this measures what rounding its own ONNX weights to float16 does
(weight_snr_db: their SNR after the round trip; float16's 11-bit mantissa gives about 70 dB for normal values),
and then says which of two cases the rows show:

- some weights round far worse than float16's usual precision (values beyond its range, or below its normal
  range, where it keeps fewer bits): those layers are at fault, and keeping them float32 would fix it;
- every weight rounds at float16's usual precision, while the error grows layer after layer: the model
  amplifies the rounding. The note gives the SNR lost per layer (median and most) so the user sees where.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FLOAT16_VARIANTS = ("float16", "fp16")
USUAL_FLOAT16_SNR_DB = 60.0   # normal float16 values round at ~70 dB; a tensor below 60 dB lost real bits


def weight_rounding_snr(onnx_path: Path) -> dict[str, float]:
    """ONNX node name -> the worst SNR (dB) of its float32 weights rounded to float16 and back."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    weights = {init.name: init for init in model.graph.initializer if init.data_type == onnx.TensorProto.FLOAT}
    snr: dict[str, float] = {}
    for node in model.graph.node:
        worst = None
        for name in node.input:
            if name not in weights:
                continue
            values = numpy_helper.to_array(weights[name]).astype(np.float64)
            if values.size < 2:
                continue
            with np.errstate(over="ignore"):
                noise = values.astype(np.float16).astype(np.float64) - values
            power = float(np.sum(values ** 2))
            error = float(np.sum(noise ** 2)) if np.all(np.isfinite(noise)) else float("inf")
            db = 999.0 if error == 0 else (0.0 if power == 0 or error == float("inf")
                                           else 10 * np.log10(power / error))
            worst = db if worst is None else min(worst, db)
        if worst is not None:
            snr[node.name] = round(float(worst), 2)
    return snr


def diagnose_float16(report, onnx_path: Path) -> None:
    """Give each row its weight_snr_db and add the note that says why this float16 artifact drifts."""
    if report.variant.lower() not in FLOAT16_VARIANTS or not report.rows:
        return
    snr = weight_rounding_snr(onnx_path)
    weighted = []
    for row in report.rows:
        row.weight_snr_db = snr.get(row.onnx_node)
        if row.weight_snr_db is not None:
            weighted.append(row)
    if not weighted:
        return
    lossy = [row for row in weighted if row.weight_snr_db < USUAL_FLOAT16_SNR_DB]
    if lossy:
        names = ", ".join(f"{row.name} ({row.weight_snr_db:.0f} dB)" for row in lossy[:5])
        report.notes.append(f"float16 cannot hold the weights of {len(lossy)} layer(s): {names}; their values lie "
                            f"beyond float16's range or below its normal range: keeping them float32 would fix it")
        return
    first, last = report.rows[0], report.rows[-1]
    if first.snr_db is None or last.snr_db is None or last.snr_db >= first.snr_db:
        return
    floor = min(row.weight_snr_db for row in weighted)
    grown = sorted((row for row in weighted if row.growth_db is not None), key=lambda row: row.growth_db)
    spread = ""
    if grown:
        median, steepest = grown[len(grown) // 2].growth_db, grown[-1]
        spread = (f" (a median of {median:.1f} dB per layer; the most, {steepest.growth_db:.1f} dB, at "
                  f"{steepest.name})")
    report.notes.append(
        f"float16 holds every weight at its usual precision (each tensor's SNR after rounding >= {floor:.0f} dB), yet "
        f"the SNR falls from {first.snr_db:.0f} dB after the first layer to {last.snr_db:.0f} dB at {last.name} over "
        f"{len(weighted)} weighted layers{spread}: the model amplifies float16's rounding layer after layer; no "
        f"weight is one float16 cannot hold")
