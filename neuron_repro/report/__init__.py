"""Reports: results rendered as REPORT.md, REPORT.tex and results.json, and the README's
tables. This package only renders what the results schema holds; the figures are drawn by
:mod:`neuron_repro.figures` before a report is written."""

from __future__ import annotations

import os
from pathlib import Path

from neuron_repro.io import atomic_write, write_json
from neuron_repro.report.cells import format_value, rule_text, summary_line
from neuron_repro.report.latex import render_latex
from neuron_repro.report.markdown import render_markdown
from neuron_repro.report.readme import fill_markers, readme_claim_table, readme_headline
from neuron_repro.verdicts import ClaimResult

__all__ = ["fill_markers", "format_value", "readme_claim_table", "readme_headline",
           "render_latex", "render_markdown", "rule_text", "summary_line", "write_report"]

# the generated claim table, which a report inside this checkout links its claims to
CLAIM_DOCS = Path(__file__).resolve().parents[2] / "docs" / "claims.md"


def write_report(results: list[ClaimResult], provenance: dict, out_dir: Path,
                 sources: dict) -> Path:
    """Write ``results.json``, ``REPORT.tex`` and ``REPORT.md`` into ``out_dir`` (each
    atomically)."""
    return write_rendered(out_dir, render_report(results, provenance, out_dir, sources))


def render_report(results: list[ClaimResult], provenance: dict, out_dir: Path,
                  sources: dict) -> dict:
    """The report's files as ``{name: content}``, all rendered before any is written: a row
    that cannot be rendered leaves a folder's files as they were, never a results.json that
    its REPORT.md does not show."""
    return {"results.json": {"provenance": provenance,
                             "claims": [r.to_dict() for r in results]},
            "REPORT.tex": render_latex(results, provenance, sources),
            "REPORT.md": render_markdown(results, provenance, sources, docs_link(out_dir))}


def write_rendered(out_dir: Path, rendered: dict) -> Path:
    """Write what :func:`render_report` gave into ``out_dir``; returns REPORT.md's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "results.json", rendered["results.json"])
    _write_text(out_dir / "REPORT.tex", rendered["REPORT.tex"])
    _write_text(out_dir / "REPORT.md", rendered["REPORT.md"])
    return out_dir / "REPORT.md"


def docs_link(out_dir: Path) -> str | None:
    """The claim table's path as seen from ``out_dir``, when both are in this checkout."""
    out_dir = Path(out_dir).resolve()
    root = CLAIM_DOCS.parents[1]
    if not CLAIM_DOCS.is_file() or not out_dir.is_relative_to(root):
        return None
    return Path(os.path.relpath(CLAIM_DOCS, out_dir)).as_posix()


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text)
