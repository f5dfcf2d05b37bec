"""The output diff as one self-contained HTML page, and the table layout the GUI shares with it.

No Qt here on purpose: the GUI passes in plot images it rendered itself (PNG bytes), the CLI can pass none.
Comparison dicts are the COMPARISON events of the job protocol (`ComparisonResult.to_dict()` plus `kind`,
and optionally `samples`); see studio/gui/diff_view.py.
"""

from __future__ import annotations

import base64
import datetime
import html
from pathlib import Path
from typing import Iterable

from studio.signature import shape_text

# (key in an output dict, column title, how to show it) — the GUI table uses the same columns.
METRIC_COLUMNS: list[tuple[str, str, str]] = [
    ("max_abs", "Max abs", "number"),
    ("mean_abs", "Mean abs", "number"),
    ("rmse", "RMSE", "number"),
    ("max_rel", "Max rel", "number"),
    ("cosine", "Cosine", "cosine"),
    ("snr_db", "SNR dB", "snr"),
    ("top1", "Top-1", "percent"),
    ("top5", "Top-5", "percent"),
]
SNR_CAP_DB = 999.0     # studio.compare clamps SNR here; 999 means identical outputs

PASS_TEXT, FAIL_TEXT = "PASS", "FAIL"


def format_metric(value, how: str = "number") -> str:
    """A metric as a table shows it: short, aligned, '–' when it does not apply."""
    if value is None:
        return "–"
    if how == "percent":
        return f"{100 * value:.0f}%" if value in (0, 1) else f"{100 * value:.1f}%"
    if how == "cosine":
        return f"{value:.6f}"
    if how == "snr":
        if value >= SNR_CAP_DB:
            return "∞"
        return "-∞" if value <= -SNR_CAP_DB else f"{value:.1f}"
    if value == 0:
        return "0"
    if abs(value) < 1e-3 or abs(value) >= 1e4:
        return f"{value:.2e}"
    return f"{value:.4g}"


def artifact_label(comparison: dict) -> str:
    """The candidate as a row title: its file name, not the whole path."""
    candidate = str(comparison.get("candidate") or "?")
    return Path(candidate).name or candidate


def output_label(output: dict) -> str:
    name, candidate = output.get("name") or "", output.get("candidate_name")
    if not name:
        return f"(none) → {candidate}"
    if candidate in (None, name):
        return name
    return f"{name} → {candidate}"


def outputs_by_name(comparisons: list[dict]) -> dict[str, list[tuple[int, dict]]]:
    """Reference output name -> [(comparison index, output dict)], in first-seen order: one table per output."""
    grouped: dict[str, list[tuple[int, dict]]] = {}
    for index, comparison in enumerate(comparisons):
        for output in comparison.get("outputs") or []:
            grouped.setdefault(output.get("name") or output_label(output), []).append((index, output))
    return grouped


def failed_to_compare(comparisons: list[dict]) -> list[tuple[int, dict]]:
    """Comparisons that carry an error (the candidate could not be run or was not verified)."""
    return [(i, c) for i, c in enumerate(comparisons) if c.get("error")]


def tolerance_lines(comparisons: list[dict]) -> list[str]:
    """One line per variant, e.g. 'float16: |a-ref| <= 0.01 + 0.01*|ref|'."""
    from studio.compare import Tolerance   # pure numpy; imported late so this module stays light

    seen: dict[str, str] = {}
    for comparison in comparisons:
        tolerance = comparison.get("tolerance")
        if tolerance is not None:
            seen.setdefault(str(comparison.get("variant") or "float32"), Tolerance.from_dict(tolerance).describe())
    return [f"{variant}: {text}" for variant, text in seen.items()]


def verdict_summary(comparisons: list[dict]) -> str:
    passed = sum(1 for c in comparisons if c.get("passed"))
    return f"{passed} of {len(comparisons)} artifact{'s' if len(comparisons) != 1 else ''} pass"


# ---------------------------------------------------------------- HTML

_CSS = """
:root { color-scheme: light dark; --pass: #1a7f37; --fail: #cf222e; --muted: #57606a; --line: #d0d7de;
        --head: #f6f8fa; }
@media (prefers-color-scheme: dark) {
  :root { --pass: #3fb950; --fail: #f85149; --muted: #8b949e; --line: #30363d; --head: #161b22; } }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1280px;
       padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 6px; }
h3 { font-size: 14px; margin: 18px 0 6px; }
.muted { color: var(--muted); } .shape { color: var(--muted); font-weight: normal; font-size: 13px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 10px; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; font-family: ui-monospace, monospace;
                 white-space: nowrap; }
.PASS { color: var(--pass); font-weight: 700; } .FAIL { color: var(--fail); font-weight: 700; }
.tolerances { margin: 8px 0 0; padding-left: 18px; } .reason { color: var(--muted); font-size: 13px; }
figure { margin: 8px 0 18px; } figure img { max-width: 100%; border: 1px solid var(--line); border-radius: 6px; }
svg.scatter { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; font-size: 11px; }
svg.scatter text { fill: currentColor; } svg.scatter .axis { stroke: var(--muted); }
svg.scatter circle { fill-opacity: 0.55; stroke-width: 1.5; }
svg.scatter .pass { fill: var(--pass); stroke: var(--pass); } svg.scatter .fail { fill: var(--fail); stroke: var(--fail); }
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _verdict_cell(passed: bool) -> str:
    word = PASS_TEXT if passed else FAIL_TEXT
    return f'<td class="{word}">{word}</td>'


def _output_table(rows: Iterable[tuple[int, dict]], comparisons: list[dict]) -> str:
    head = "".join(f'<th class="num">{_e(title)}</th>' for _, title, _ in METRIC_COLUMNS)
    body = []
    for index, output in rows:
        comparison = comparisons[index]
        cells = "".join(f'<td class="num">{_e(format_metric(output.get(key), how))}</td>'
                        for key, _, how in METRIC_COLUMNS)
        reason = output.get("reason") or ""
        body.append(f"<tr><td>{_e(artifact_label(comparison))}</td><td>{_e(comparison.get('variant', ''))}</td>"
                    f"{cells}{_verdict_cell(bool(output.get('passed')))}"
                    f'<td class="reason">{_e(reason)}</td></tr>')
    return (f"<table><thead><tr><th>Artifact</th><th>Variant</th>{head}<th>Verdict</th><th>Reason</th></tr>"
            f"</thead><tbody>{''.join(body)}</tbody></table>")


def comparison_report_html(comparisons: list[dict], *, images: dict[tuple[int, str], bytes] | None = None,
                           tolerance_text: str | None = None, inputs_text: str = "",
                           title: str = "Output diff", sections: Iterable[str] = ()) -> str:
    """The whole report: summary, tolerances, a table per output, failures, and the plots as inline PNGs.

    images: (comparison index, reference output name) -> PNG bytes of that pair's plots.
    sections: HTML fragments shown after the summary line (e.g. studio.matrix's variant matrix).
    """
    images = images or {}
    references = sorted({str(c.get("reference")) for c in comparisons if c.get("reference")})
    all_passed = bool(comparisons) and all(c.get("passed") for c in comparisons)
    overall = PASS_TEXT if all_passed else FAIL_TEXT
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>{_e(title)} <span class='{overall}'>{overall}</span></h1>",
             f"<div class='muted'>{_e(verdict_summary(comparisons))} · reference: {_e(', '.join(references) or '?')}"
             f" · {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}</div>"]
    if inputs_text:
        parts.append(f"<div class='muted'>Inputs: {_e(inputs_text)}</div>")
    parts += list(sections)
    lines = tolerance_text.splitlines() if tolerance_text else tolerance_lines(comparisons)
    if lines:
        parts.append("<h2>Tolerances</h2><ul class='tolerances'>"
                     + "".join(f"<li>{_e(line)}</li>" for line in lines) + "</ul>")
    for name, rows in outputs_by_name(comparisons).items():
        shape = shape_text(rows[0][1].get("shape"), sep=", ")
        parts.append(f"<h2>{_e(name)} <span class='shape'>{_e(shape)}</span></h2>")
        parts.append(_output_table(rows, comparisons))
    errors = failed_to_compare(comparisons)
    if errors:
        parts.append("<h2>Not verified</h2><table><thead><tr><th>Artifact</th><th>Variant</th><th>Verdict</th>"
                     "<th>Cause</th></tr></thead><tbody>")
        parts += [f"<tr><td>{_e(artifact_label(c))}</td><td>{_e(c.get('variant', ''))}</td>"
                  f"{_verdict_cell(bool(c.get('passed')))}<td>{_e(c['error'])}</td></tr>" for _, c in errors]
        parts.append("</tbody></table>")
    if images:
        parts.append("<h2>Plots</h2>")
        for (index, name), png in images.items():
            label = f"{artifact_label(comparisons[index])} · {name}"
            data = base64.b64encode(png).decode("ascii")
            parts.append(f"<figure><img alt='{_e(label)}' src='data:image/png;base64,{data}'></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)
