"""Claim results to a reproduction report: REPORT.md, results.json and PNG figures."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from tabulate import tabulate

from harness.claims import FAIL, NOT_RUN, PASS, ClaimResult
from harness.io import atomic_write, dumps_json, write_json


# ----------------------------------------------------------------------------- figures
def plot_l1_weights(coef, path: Path, title: str, top: int = 30) -> None:
    """Bar chart of the largest absolute L1 weights; the sentiment unit is the first bar."""
    coef = np.asarray(coef)
    order = np.argsort(-np.abs(coef))[:top]
    fig, ax = _figure((8, 3.2))
    colors = ["tab:red" if i == 0 else "tab:gray" for i in range(len(order))]
    ax.bar(range(len(order)), coef[order], color=colors)
    ax.set_xticks(range(len(order)), [str(u) for u in order], rotation=90, fontsize=7)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xlabel("unit (by decreasing |weight|)")
    ax.set_ylabel("L1 weight")
    ax.set_title(f"{title}; {np.count_nonzero(coef)} of {len(coef)} non-zero", fontsize=9)
    _save(fig, path)


def plot_unit_values(values, labels, path: Path, threshold: float, title: str) -> None:
    """Histograms of one unit's value for negative and positive texts."""
    values, labels = np.asarray(values), np.asarray(labels)
    fig, ax = _figure((6, 3.2))
    bins = np.histogram_bin_edges(values, bins=40)
    ax.hist(values[labels == 0], bins=bins, alpha=0.6, label="negative", color="tab:blue")
    ax.hist(values[labels == 1], bins=bins, alpha=0.6, label="positive", color="tab:orange")
    ax.axvline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.set_xlabel("final cell state of the unit")
    ax.set_ylabel("texts")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_per_unit(accuracy, path: Path, title: str, ylabel: str, line=None, line_label="",
                  mark=None, mark_label="") -> None:
    """Accuracy per unit (deletion or single-unit sweep), with a reference line and one unit
    marked."""
    accuracy = np.asarray(accuracy)
    fig, ax = _figure((8, 3.2))
    ax.plot(np.arange(len(accuracy)), accuracy, ".", ms=3, color="tab:gray")
    if line is not None:
        ax.axhline(line, color="tab:blue", lw=1, label=line_label)
    if mark is not None:
        ax.plot([mark], [accuracy[mark]], "o", color="tab:red", label=mark_label)
    ax.set_xlabel("unit")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_cumulative(units_left, accuracy, level, path: Path, title: str) -> None:
    fig, ax = _figure((6, 3.2))
    ax.plot(units_left, accuracy, color="tab:gray")
    ax.axhline(level, color="tab:red", ls="--", lw=1, label="sentiment unit alone")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("units left (deleted in order of decreasing |L1 weight|)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_histogram(values, marker, path: Path, title: str, marker_label: str) -> None:
    fig, ax = _figure((6, 3.2))
    ax.hist(values, bins=40, color="tab:gray")
    ax.axvline(marker, color="tab:red", ls="--", lw=1, label=marker_label)
    ax.set_xlabel("test accuracy (%)")
    ax.set_ylabel("classifiers")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, path)


def _figure(size, *grid, **kwargs):
    # Figure objects, not pyplot: no global state, so a model and its control can draw at once.
    # ``grid`` and ``kwargs`` go to ``Figure.subplots`` (one axes by default).
    fig = Figure(figsize=size)
    return fig, fig.subplots(*grid, **kwargs)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_write(path, ".png.tmp") as tmp:
        fig.savefig(tmp, dpi=110, format="png")


# ----------------------------------------------------------------------------- tables
def format_value(value, details: dict | None = None) -> str:
    if value is None:
        return "-"
    text = f"{value:.2f}" if isinstance(value, float) else str(value)
    ci = (details or {}).get("ci95")
    if ci:
        text += f" [{ci[0]:.1f}, {ci[1]:.1f}]"
    return text


def summary_line(results: list[ClaimResult]) -> str:
    counts = Counter(r.verdict for r in results)
    return (f"{len(results)} claims: {counts[PASS]} PASS, {counts[FAIL]} FAIL, "
            f"{counts[NOT_RUN]} NOT RUN")


def claim_rows(results: list[ClaimResult], with_requirements: bool = False,
               with_control: bool = False) -> list[list[str]]:
    rows = []
    for r in results:
        c = r.claim
        rule = str(c.threshold) if c.kind == "shape" else (
            f"{c.published} {c.tolerance}" if c.tolerance else "-")
        row = [f"`{c.id}`", c.kind, c.statement, _published(c.published),
               format_value(r.measured, r.details)]
        if with_control:
            ctl = r.control
            row.append("-" if ctl is None else format_value(ctl.measured, ctl.details)
                       + (f" ({ctl.verdict})" if c.kind == "shape" else ""))
        row += [rule, f"**{r.verdict}**", r.reason]
        if with_requirements:
            row.append(c.requirement_text())
        rows.append(row)
    return rows


def _published(value) -> str:
    return "-" if value is None else str(value)


HEADERS = ["claim", "kind", "statement", "published", "measured", "tolerance / threshold",
           "verdict", "reason"]


def _cache_lines(cache: dict) -> list[str]:
    parts = [f"{who}: {fits['fitted']} fitted, {fits['read_from_cache']} read from the cache"
             for who, stats in cache.items() if (fits := stats.get("liblinear_fits"))]
    return [f"- liblinear fits ({'; '.join(parts)})"] if parts else []


def render_markdown(results: list[ClaimResult], provenance: dict, sources: dict) -> str:
    fixtures = provenance.get("fixtures")
    model = provenance.get("model") or {}
    control = provenance.get("control")
    lines = [
        f"# Reproduction report: `{provenance['profile']}`",
        "",
        f"**{summary_line(results)}**",
        "",
        f"- model: `{model.get('spec', 'none')}` ({model.get('n_units', '-')} units, sha256 "
        f"`{model.get('sha256', '-')}`; OpenAI release verified: "
        f"{model.get('openai_release_verified', False)})",
        *([f"- untrained control: `{control['spec']}` (sha256 `{control['sha256']}`), the same "
           "architecture with the weights it had before training; its measurements are the "
           "column *untrained control*"
           + ("" if provenance.get("control_claims", "all") == "all" else
              f" (run in this report on the claims matching {provenance['control_claims']} "
              "only; '-' elsewhere)")] if control else []),
        f"- data root: `{provenance['data_root']}`",
        f"- device: {provenance['device']}; commit `{provenance['git_commit']}`; "
        f"wall time {provenance['wall_seconds']} s",
        *_cache_lines(provenance.get("cache") or {}),
        "",
    ]
    if fixtures:
        lines += [
            "This is the **fixtures** profile: the planted model (a unit built to carry the "
            "label) on the tiny bundled files. It checks that the harness runs and finds a known "
            "answer; it says nothing about the published claims. The last column says what each "
            "claim needs to run for real: "
            "`nox -s reproduce -- --data-dir D --model M --profile P`.",
            "",
        ]
    lines += [
        "Value claims are judged only with the artefact the source used (OpenAI's released "
        "weights); with any other model the row shows the measured value and says so. Shape "
        "claims are judged on the model of the run, with the threshold shown.",
        "",
    ]
    with_control = any(r.control is not None for r in results)
    headers = HEADERS[:5] + (["untrained control"] if with_control else []) + HEADERS[5:]
    headers += ["needs"] if fixtures else []
    for source, citation in sources.items():
        group = [r for r in results if r.claim.source == source]
        if not group:
            continue
        lines += [f"## {source}", "", f"{citation.reference}. {summary_line(group)}.", ""]
        lines.append(tabulate(claim_rows(group, fixtures, with_control), headers=headers,
                              tablefmt="github"))
        lines.append("")
        for r in group:  # a claim's own table (details["table"]: rows as dicts)
            if r.details.get("table"):
                lines += [f"`{r.claim.id}`:", "",
                          tabulate(r.details["table"], headers="keys", tablefmt="github",
                                   floatfmt=".4g"), ""]
        figures = sorted({f for r in group for f in r.figures})
        figures += sorted({f"control/{f}" for r in group if r.control for f in r.control.figures})
        for fig in figures:
            lines += [f"![{fig}]({fig})", ""]
    lines += ["## Provenance", "", "```json", dumps_json(provenance, sort_keys=True),
              "```", ""]
    return "\n".join(lines)


def write_report(results: list[ClaimResult], provenance: dict, out_dir: Path,
                 sources: dict) -> Path:
    """Write ``REPORT.md`` and ``results.json`` into ``out_dir`` (each atomically)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"provenance": provenance, "claims": [r.to_dict() for r in results]}
    write_json(out_dir / "results.json", payload)
    report = out_dir / "REPORT.md"
    _write_text(report, render_markdown(results, provenance, sources))
    return report


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text)
