"""The report renderer: values without a number, infinities, intervals, value+shape rows,
reasons listed once, lines that fit, and LaTeX tables."""

import re
import shutil
import subprocess

import pytest

from neuron_repro.claims import SOURCES, get_claim
from neuron_repro.report import format_value, render_latex, render_markdown, rule_text
from neuron_repro.verdicts import (
    FAIL,
    NOT_RUN,
    PASS,
    ClaimResult,
    Measurement,
    judge,
)

PROVENANCE = {"profile": "unit-test", "fixtures": False, "git_commit": "abc", "versions": {},
              "device": "cpu", "seeds": {"probe": 42}, "model": {"spec": "m", "n_units": 8},
              "data_root": "d", "data_sha256": {}, "wall_seconds": 1.0}


@pytest.mark.parametrize("value,details,text", [
    (None, {}, "-"),
    (float("nan"), {}, "-"),
    (float("nan"), {"why": "the probe kept no weight at C 0.1"}, "no unit"),
    (None, {"why": "no dataset's model has a sentiment unit"}, "no unit"),
    (float("inf"), {}, "inf"),
    (52.2812, {"ci95": [50.0, 54.6]}, "52.28 [50.0, 54.6]"),
    (53.42, {"test_accuracy_std": 1.2, "n_folds": 10}, "53.42 (sd 1.20)"),
    (0.0023, {}, "0.0023"),
    (0.0, {}, "0.00"),
    (7, {}, "7"),
])
def test_values_are_written_for_people(value, details, text):
    assert format_value(value, details) == text


def test_rules_are_shown_short_and_never_as_figure_plus_minus_zero():
    assert rule_text(get_claim("nerneurons2020.top10_overlap")) == "-"
    assert rule_text(get_claim("radford2017.sst.full_features")) == "±1"
    long = rule_text(get_claim("donnelly2019.cumulative_ablation"))
    assert len(long) <= 34 and long.endswith("…")


def _results():
    sweep = get_claim("donnelly2019.single_ablation_sweep")
    both = judge(sweep, Measurement(91.9, {"best_unit_alone_minus_majority": 2.0},
                                    shape_value=2.0), has_release=False)
    ratio = judge(get_claim("radford2017.sst.one_dominant_unit"),
                  Measurement(float("inf")), False)
    none = ClaimResult(get_claim("radford2017.sst.sentiment_unit_only"), NOT_RUN,
                       float("nan"), "the experiment produced no value: the probe kept no "
                       "weight", {"why": "the probe kept no weight"})
    same = [ClaimResult(get_claim(f"radford2017.{d}.full_features"), NOT_RUN, 60.0,
                        "needs OpenAI's released weights to judge") for d in ("mr", "cr")]
    return [both, ratio, none, *same]


def test_markdown_report_lists_each_reason_once_and_fits_the_page():
    text = render_markdown(_results(), PROVENANCE, SOURCES)
    assert text.index("## Summary") < text.index("## radford2017")
    assert text.count("needs OpenAI's released weights to judge\n") == 1
    flat = " ".join(text.split())
    assert "| inf " in text and "no unit" in text
    assert "value half NOT RUN" in flat and "shape half PASS" in flat
    assert max(len(line) for line in text.splitlines()) <= 200
    for line in text.splitlines():
        if line.startswith("| `"):
            assert len(line) <= 160, line
    assert not re.search(r"\bNone\b|\bnan\b", text, re.IGNORECASE)


def test_value_plus_shape_rows_show_both_halves():
    both = _results()[0]
    assert both.verdict == NOT_RUN
    assert both.parts["shape"]["verdict"] == PASS and both.parts["value"]["verdict"] == NOT_RUN
    failed = judge(get_claim("donnelly2019.single_ablation_sweep"),
                   Measurement(91.9, {}, shape_value=40.0), has_release=False)
    assert failed.verdict == FAIL


def test_latex_tables_are_booktabs_and_balanced():
    tex = render_latex(_results(), PROVENANCE, SOURCES)
    assert "\\toprule" in tex and "\\bottomrule" in tex and "\\midrule" in tex
    for env in ("document", "longtable"):
        assert tex.count(f"\\begin{{{env}}}") == tex.count(f"\\end{{{env}}}") > 0
    # underscores escaped, with a break point after each
    assert ("radford2017.\\allowbreak{}sst.\\allowbreak{}one\\_\\allowbreak{}dominant"
            "\\_\\allowbreak{}unit") in tex
    assert "`" not in tex and "**" not in tex


def _overfull(log: str) -> list[str]:
    """The overfull boxes of a LaTeX log wider than 1 pt."""
    return [m.group(0) for m in re.finditer(r"Overfull \\[hv]box \(([\d.]+)pt too \w+\)[^\n]*",
                                            log) if float(m.group(1)) > 1.0]


def _compile(tmp_path, tex: str) -> str:
    (tmp_path / "REPORT.tex").write_text(tex)
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                           "REPORT.tex"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "REPORT.pdf").stat().st_size > 0
    return (tmp_path / "REPORT.log").read_text(errors="replace")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex (TeX Live)")
def test_latex_report_compiles_and_fits_the_page(tmp_path):
    log = _compile(tmp_path, render_latex(_results(), PROVENANCE, SOURCES))
    assert _overfull(log) == []


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex (TeX Live)")
@pytest.mark.parametrize("report", ["cpu-ref", "word-lstm-ref"])
def test_committed_reports_fit_the_page(tmp_path, report):
    """The committed reports' tables (long ids, long thresholds, a 62-row table), rendered
    again: no box wider than the page by more than 1 pt."""
    import json
    from pathlib import Path

    from neuron_repro.claims import REGISTRY
    from neuron_repro.results import results_of

    path = Path(__file__).resolve().parents[2] / "reports" / report / "results.json"
    payload = json.loads(path.read_text())
    results = list(results_of(payload, REGISTRY, str(path)).values())
    log = _compile(tmp_path, render_latex(results, payload["provenance"], SOURCES))
    assert _overfull(log) == []


def test_the_summary_says_where_the_control_ran_from_the_rows_not_the_run_patterns():
    results = _results()
    results[1].control = ClaimResult(results[1].claim, NOT_RUN, 1.0, "no unit")
    provenance = {**PROVENANCE, "control": {"spec": "m/initial", "sha256": "c"},
                  "control_claims": ["sentiment_unit_only", "full_features"]}
    flat = " ".join(render_markdown(results, provenance, SOURCES).split())
    assert "1 of the 5 claims have its row" in flat and "sentiment_unit_only" not in \
        flat.split("## radford2017")[0]
