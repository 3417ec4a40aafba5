"""``gscpr report RESULTS_DIR``: one self-contained HTML page of ``gscpr bench`` results.

    gscpr report bench/            # every bench.json below bench/ -> bench/report.html

The page holds, per scene: the failure cases first (thumbnails: query | render at the coarse pose | render at
the refined pose, match overlay below, each with the query's confidence), the results table (accuracy over all
queries and over the accepted ones, the precision and recall of ``refined``, the confidence's calibration error),
cumulative error distributions before and after refinement per protocol and the confidence's reliability plot
(inline SVG), then the successful examples. Images are embedded (base64), plots are
SVG, styles inline: the file opens anywhere, offline, and can be mailed as it is.
"""

from __future__ import annotations

import argparse
import base64
import errno
import html
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .bench.scene_scale import SUCCESS
from .bench.tables import NO_CONFIDENCE, TRUST_HEAD, failures_text, number, trust_cells
from .bench.thumbnails import thumb_stem
from .calibration import BINS, expected_calibration_error, reliability_bins
from .evaluate import within
from .outputs import check_writable, write_text
from .text import plural

__all__ = ["cdf_svg", "load_results", "reliability_svg", "write_report"]

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 36px; border-bottom: 1px solid #ccc; }
h3 { font-size: 15px; margin-top: 20px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
.thumbs { display: flex; flex-wrap: wrap; gap: 10px; }
figure { margin: 0; } figure img { max-width: 640px; display: block; border: 1px solid #ccc; }
figcaption { font-size: 12px; color: #444; max-width: 640px; }
.fail figcaption { color: #a00; } .plots { display: flex; flex-wrap: wrap; gap: 18px; }
.note { color: #555; }
"""


#: What a ``bench.json`` of ``gscpr bench`` holds (``"benchmark": "accuracy"``) that the page shows.
BENCH_KEYS = ("scene", "device", "date", "format", "queries", "resolution", "model_size", "scene_distance", "config",
              "protocols", "runs")  # fmt: skip


def _is_bench_result(content) -> bool:
    return (
        isinstance(content, dict) and content.get("benchmark") == "accuracy" and all(k in content for k in BENCH_KEYS)
    )


def load_results(root: str | Path, warn: Callable[[str], None] | None = None) -> list[tuple[Path, dict]]:
    """``(folder, content)`` of every ``bench.json`` of ``gscpr bench`` below ``root`` (or ``root`` itself), sorted
    by scene. A ``bench.json`` found below ``root`` that another tool wrote (valid JSON without ``gscpr bench``'s
    fields) is passed over and ``warn`` told (default: stderr). Raises ``ValueError`` naming the file for one that
    cannot be read or is not JSON, or for ``root`` given as a file that is not ``gscpr bench``'s, and when none is
    found."""
    root = Path(root)
    warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
    files = [root] if root.is_file() else sorted(root.rglob("bench.json"))
    found = []
    for f in files:
        try:
            content = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{f}: not a readable bench.json ({e})") from None
        if _is_bench_result(content):
            found.append((f.parent, content))
            continue
        why = f"{f}: not a gscpr bench result (no 'benchmark': 'accuracy' with {', '.join(BENCH_KEYS)})"
        if f == root:
            raise ValueError(why)
        warn(f"{why}; passed over")
    if not found:
        raise ValueError(f"{root}: no bench.json of gscpr bench found (run gscpr bench first)")
    return sorted(found, key=lambda x: str(x[1]["scene"]))


def cdf_svg(
    series: list[tuple[str, np.ndarray, str, bool]], xlabel: str, xmin: float, xmax: float, w: int = 420, h: int = 260
) -> str:
    """An inline SVG of empirical CDFs on a log x-axis: ``series`` is ``(label, values, colour, dashed)``."""
    left, right, top, bottom = 46, 10, 10, 40
    pw, ph = w - left - right, h - top - bottom
    lo, hi = np.log10(xmin), np.log10(xmax)

    def x(v):
        return left + pw * (np.clip(np.log10(np.maximum(v, xmin)), lo, hi) - lo) / (hi - lo)

    def y(f):
        return top + ph * (1 - f)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 18 * len(series)}" '
             f'font-size="11" font-family="sans-serif">',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']  # fmt: skip
    for d in range(int(np.floor(lo)), int(np.ceil(hi)) + 1):
        if lo <= d <= hi:
            xv = x(10.0**d)
            parts.append(f'<line x1="{xv:.1f}" y1="{top}" x2="{xv:.1f}" y2="{top + ph}" stroke="#eee"/>')
            parts.append(f'<text x="{xv:.1f}" y="{top + ph + 14}" text-anchor="middle">{10.0**d:g}</text>')
    for f in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{left - 4}" y="{y(f) + 4:.1f}" text-anchor="end">{f:.1f}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{top + ph + 30}" text-anchor="middle">{html.escape(xlabel)}</text>')
    for i, (label, values, colour, dashed) in enumerate(series):
        v = np.sort(np.asarray(values, dtype=float))
        v = v[np.isfinite(v)]
        if len(v):
            f = np.arange(1, len(v) + 1) / len(v)
            pts = [(x(v[0]), y(0.0))]
            for vi, fi, fprev in zip(v, f, np.r_[0.0, f[:-1]], strict=True):  # a staircase
                pts += [(x(vi), y(fprev)), (x(vi), y(fi))]
            pts.append((left + pw, y(f[-1])))
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
            dash = ' stroke-dasharray="4 3"' if dashed else ""
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>')
        ly = h + 18 * i + 4
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        parts.append(
            f'<line x1="{left}" y1="{ly}" x2="{left + 24}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        parts.append(f'<text x="{left + 30}" y="{ly + 4}">{html.escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def reliability_svg(bins: list[dict], ece: float, w: int = 300) -> str:
    """An inline SVG reliability plot: per confidence bin (:func:`gscpr.calibration.reliability_bins`), a bar up
    to its observed success rate with its query count above, a dot at its mean predicted confidence, and the
    diagonal (perfect calibration); ``ece`` in the title."""
    left, right, top, bottom = 46, 10, 24, 40
    side = w - left - right

    def x(v):
        return left + side * v

    def y(v):
        return top + side * (1 - v)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{top + side + bottom}" font-size="11" '
             f'font-family="sans-serif">',
             f'<text x="{left}" y="14">ECE {number(ece, ".3f")} ({len(bins)} bins)</text>',
             f'<rect x="{left}" y="{top}" width="{side}" height="{side}" fill="none" stroke="#999"/>',
             f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#888"'
             ' stroke-dasharray="4 3"/>']  # fmt: skip
    for v in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>')
        parts.append(f'<text x="{x(v):.1f}" y="{top + side + 14}" text-anchor="middle">{v:.1f}</text>')
    parts.append(f'<text x="{left + side / 2}" y="{top + side + 30}" text-anchor="middle">predicted confidence</text>')
    parts.append(f'<text transform="translate(12 {top + side / 2}) rotate(-90)" text-anchor="middle">observed success '
                 "rate</text>")  # fmt: skip
    for b in bins:
        if not b["count"]:
            continue
        bx, bw = x(b["lo"]) + 1, side * (b["hi"] - b["lo"]) - 2
        parts.append(
            f'<rect x="{bx:.1f}" y="{y(b["success"]):.1f}" width="{bw:.1f}" '
            f'height="{side * b["success"]:.1f}" fill="#1f77b4" fill-opacity="0.35" stroke="#1f77b4"/>'
        )
        parts.append(f'<circle cx="{x(b["confidence"]):.1f}" cy="{y(b["success"]):.1f}" r="3" fill="#d62728"/>')
        parts.append(f'<text x="{bx + bw / 2:.1f}" y="{y(b["success"]) - 4:.1f}" text-anchor="middle">'
                     f'{b["count"]}</text>')  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts)


def _reliability(result: dict) -> str:
    """The reliability plot of a scene's confidences, pooled over its runs, against the solved poses' success; a
    note where no run recorded a confidence."""
    d = result["scene_distance"]
    pairs = [(q["confidence"], bool(within(q["solved"][0], q["solved"][1], SUCCESS[0], SUCCESS[1] * d)))
             for r in result["runs"] for q in r["per_query"]
             if q.get("confidence") is not None and q.get("solved") is not None]  # fmt: skip
    head = "<h3>Confidence: reliability</h3>"
    if not pairs:
        return head + f'<p class="note">{NO_CONFIDENCE} (verification off, or a run of an older gscpr).</p>'
    p, ok = zip(*pairs, strict=True)
    note = (f'<p class="note">{len(p)} solved poses of every run, pooled: per bin of predicted confidence, the share '
            f"whose solved pose is within the success threshold (bar; the count above it) and the bin's mean "
            f"confidence (dot). Calibrated: the dots on the diagonal.</p>")  # fmt: skip
    return head + note + reliability_svg(reliability_bins(p, ok, BINS), expected_calibration_error(p, ok, BINS))


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/jpeg;base64,{data}">'


def _table(result: dict) -> str:
    head = ["protocol", "matcher", "solver", "success before", "success", "fine", "abs", "median rot ° before",
            "median rot ° after", "median trans before", "median trans after", *TRUST_HEAD, "failures",
            "ms / query"]  # fmt: skip
    rows = ["<table><tr>" + "".join(f'<th class="{"l" if i < 3 else ""}">{h}</th>' for i, h in enumerate(head))]
    for r in result["runs"]:
        b, a = r["before"], r["after"]
        cells = [r["protocol"], r["matcher"], r["solver"], f"{number(b['success'], '.1f', 100)} %",
                 f"<b>{number(a['success'], '.1f', 100)} %</b>", f"{number(a['success_fine'], '.1f', 100)} %",
                 f"{number(a['success_abs'], '.1f', 100)} %", number(b["median_rot_deg"], ".2f"),
                 number(a["median_rot_deg"], ".3f"), number(b["median_trans"], ".4f"),
                 number(a["median_trans"], ".5f"), *map(html.escape, trust_cells(r)), html.escape(failures_text(r)),
                 number(r["ms_total"], ".1f")]  # fmt: skip
        rows.append("<tr>" + "".join(f'<td class="{"l" if i < 3 else ""}">{c}</td>' for i, c in enumerate(cells)))
    return "\n".join(rows) + "</table>"


def _protocols(result: dict) -> str:
    """The noise each protocol drew (its laws, axes, seed and where it comes from)."""
    rows = ['<table><tr><th class="l">protocol</th><th class="l">rotation (°)</th><th class="l">translation</th>'
            '<th class="l">axes</th><th>seed</th><th class="l">from</th></tr>']  # fmt: skip
    for name, p in result.get("protocols", {}).items():
        unit = "NeRF-synthetic units x D / 4.0311" if p["translation_unit"] == "nerf" else "x D"
        axes = p["axes"] + (", one sequence" if p["sequential"] else ", per frame")
        cells = [name, " ".join(map(str, p["rotation"])), f"{' '.join(map(str, p['translation']))} ({unit})", axes,
                 p["seed"], p["source"]]  # fmt: skip
        rows.append("<tr>" + "".join(f'<td class="{"" if i == 4 else "l"}">{html.escape(str(c))}</td>'
                                     for i, c in enumerate(cells)) + "</tr>")  # fmt: skip
    return "\n".join(rows) + "</table>"


def _plots(result: dict) -> str:
    out = []
    d = result["scene_distance"]
    for protocol in dict.fromkeys(r["protocol"] for r in result["runs"]):
        runs = [r for r in result["runs"] if r["protocol"] == protocol]
        before = np.array([q["before"] for q in runs[0]["per_query"]])
        svgs = []
        for k, label, lo, hi in ((0, "rotation error (°)", 1e-3, 180.0), (1, "translation error / D", 1e-5, 10.0)):
            scale = 1.0 if k == 0 else d
            series = [("coarse", before[:, k] / scale, "#888", True)]
            for i, r in enumerate(runs):
                after = np.array([q["after"][k] for q in r["per_query"]]) / scale
                series.append((f"{r['matcher']} + {r['solver']}", after, PALETTE[i % len(PALETTE)], False))
            svgs.append(cdf_svg(series, label, lo, hi))
        out.append(f"<h3>{html.escape(protocol)}: cumulative error distribution</h3>"
                   f'<div class="plots">{"".join(svgs)}</div>')  # fmt: skip
    return "\n".join(out)


def _thumbs(folder: Path, result: dict, kind: str) -> str:
    figs = []
    for r in result["runs"]:
        by_stem = {thumb_stem(kind, q["name"]): q for q in r["per_query"]}
        for jpg in sorted((folder / r["dir"] / "thumbs").glob(f"{kind}_*.jpg")):
            q = by_stem.get(jpg.stem)
            info = ""
            if q is not None:
                conf = "no confidence" if q.get("confidence") is None else f"confidence {q['confidence']:.2f}"
                info = (f"{html.escape(q['name'])}: {q['status']}, {conf}, {plural(q['inliers'], 'inlier')}; rotation "
                        f"{q['before'][0]:.3f}° → {q['after'][0]:.3f}°, translation {q['before'][1]:.5f} → "
                        f"{q['after'][1]:.5f}")  # fmt: skip
            caption = f"{r['protocol']} / {r['matcher']} + {r['solver']} — {info}"
            figs.append(f'<figure class="{kind}">{_img(jpg)}<figcaption>{caption}</figcaption></figure>')
    if not figs:
        return f'<p class="note">none {"failed" if kind == "fail" else "kept"}.</p>'
    return f'<div class="thumbs">{"".join(figs)}</div>'


def _section(folder: Path, r: dict) -> list[str]:
    """The page's part for one bench result (``r``, read from ``folder/bench.json``)."""
    return [
        f"<h2>{html.escape(str(r['scene']))} — {html.escape(str(r['device']))}, {r['date']}</h2>",
        f'<p class="note">{r["format"]}, {plural(r["queries"], "test view")} at {r["resolution"]}, '
        f"{r['model_size']:,} Gaussians, D = {r['scene_distance']:.4g}, "
        f"at most {plural(r['config']['iterations'], 'iteration')}.</p>",
        "<h3>Failures</h3>" + _thumbs(folder, r, "fail"),
        "<h3>Results</h3>" + _table(r),
        "<h3>Perturbation protocols</h3>" + _protocols(r),
        _plots(r),
        _reliability(r),
        "<h3>Successes</h3>" + _thumbs(folder, r, "ok"),
    ]


def write_report(root: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML page for every ``bench.json`` below ``root``; returns its path (default
    ``root/report.html``)."""
    results = load_results(root)
    root = Path(root)
    out = Path(out) if out else (root.parent if root.is_file() else root) / "report.html"
    if out.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder: give the HTML file's name", str(out))
    check_writable(out.parent)  # before the page is built
    body = ["<h1>gscpr: pose refinement accuracy</h1>",
            '<p class="note">Each thumbnail: query | render at the coarse pose | render at the refined pose; below, '
            "render (left) and query (right) with the matches (green: refined, red: kept coarse). Success: rotation "
            "&lt; 5° and translation &lt; 0.05 D (D: the scene's scale). Accepted: the queries <code>refined</code> "
            "(verified); precision: of the accepted, the share within the success threshold (with their fine rate and "
            "median rotation error); recall: of the queries whose solved pose is within it, the share accepted; ECE: "
            "the confidence's expected calibration error (10 bins) against the solved pose's success.</p>"]  # fmt: skip
    for folder, r in results:
        try:
            body += _section(folder, r)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:  # a damaged or older file
            raise ValueError(f"{folder / 'bench.json'}: damaged bench result ({type(e).__name__}: {e})") from None
    page = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>gscpr bench report</title>'
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")  # fmt: skip
    write_text(out, page)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, help="folder holding bench.json files (searched recursively)")
    parser.add_argument("--out", type=Path, help="HTML file (default: RESULTS/report.html)")


def run(args: argparse.Namespace) -> int:
    try:
        path = write_report(args.results, args.out)
    except ValueError as e:
        print(f"gscpr report: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0
