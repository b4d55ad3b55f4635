"""Claim results to a reproduction report: REPORT.md, results.json and PNG figures."""

from __future__ import annotations

import math
import os
import textwrap
from collections import Counter
from pathlib import Path

from tabulate import tabulate

from neuron_repro.io import atomic_write, write_json
from neuron_repro.verdicts import FAIL, FEATURE_NAMES, NOT_RUN, PASS, ClaimResult


# ----------------------------------------------------------------------------- tables
def format_value(value, details: dict | None = None) -> str:
    """A measured value for a table: ``-`` when there is none (``no unit`` when that is why),
    ``inf`` spelled out, a 95 % interval or the spread over folds when there is one."""
    details = details or {}
    if value is None or (isinstance(value, float) and math.isnan(value)):
        why = str(details.get("why", ""))
        no_unit = ("no unit", "kept no weight", "no sentiment unit", "has a sentiment unit")
        return "no unit" if any(w in why for w in no_unit) else "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = f"{value:.2f}" if value == 0 or abs(value) >= 0.1 else f"{value:.3g}"
    else:
        text = str(value)
    ci = details.get("ci95")
    if ci and all(isinstance(c, int | float) for c in ci):
        text += f" [{ci[0]:.1f}, {ci[1]:.1f}]"
    elif isinstance(details.get("test_accuracy_std"), float) and details.get("n_folds"):
        text += f" (sd {details['test_accuracy_std']:.2f})"
    return text


def summary_line(results: list[ClaimResult]) -> str:
    counts = Counter(r.verdict for r in results)
    return (f"{len(results)} claims: {counts[PASS]} PASS, {counts[FAIL]} FAIL, "
            f"{counts[NOT_RUN]} NOT RUN")


def published_text(claim) -> str:
    """The published value as a table shows it (a figure or a table is named, not a 0)."""
    if claim.published_text:
        return claim.published_text
    return "-" if claim.published is None else str(claim.published)


def rule_text(claim, width: int = 34) -> str:
    """The tolerance or threshold, short enough for a table (whole in the claim's notes)."""
    if claim.kind == "shape":
        text = str(claim.threshold)
    elif not isinstance(claim.published, int | float):
        return "-"
    else:
        text = str(claim.tolerance)
        if claim.kind == "value+shape" and claim.shape_threshold is not None:
            text += f"; {claim.shape_threshold}"
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _measured_cell(row: dict) -> str:
    return format_value(row.get("measured"), row.get("details"))


def _control_cell(row: dict, reasons: _Reasons | None = None) -> str:
    """The control's value; for a shape claim its verdict too, and (with ``reasons``) the
    number of its reason when it was not judged for a reason of its own."""
    ctl = row.get("control")
    if not ctl:
        return "-"
    text = format_value(ctl.get("measured"), ctl.get("details"))
    if ctl.get("verdict") in (PASS, FAIL) and row.get("kind") != "value":
        return f"{text} {ctl['verdict']}"
    if reasons is not None and ctl.get("verdict") == NOT_RUN and \
            ctl.get("reason") != row.get("reason"):
        return f"{text} {reasons.mark('control: ' + ctl['reason'])}"
    return text


class _Reasons:
    """Distinct reasons, numbered in order of first use."""

    def __init__(self):
        self.texts: dict[str, int] = {}

    def mark(self, reason: str) -> str:
        if not reason:
            return ""
        if reason not in self.texts:
            self.texts[reason] = len(self.texts) + 1
        return f"({self.texts[reason]})"

    def lines(self, title: str) -> list[str]:
        if not self.texts:
            return []
        out = [f"{title}:", ""]
        for text, n in self.texts.items():
            out += _wrap(f"{n}. {text}", "   ")
        return out + [""]


def source_rows(rows: list[dict], claims: dict, with_control: bool,
                reasons: _Reasons) -> list[list[str]]:
    """One row per claim: id, published, measured, (control), rule, verdict (reason number)."""
    table = []
    for row in rows:
        claim = claims[row["id"]]
        mark = reasons.mark(row.get("reason", ""))
        cells = [f"`{row['id']}`", published_text(claim), _measured_cell(row)]
        if with_control:
            cells.append(_control_cell(row, reasons))
        cells += [rule_text(claim), f"**{row['verdict']}** {mark}".strip()]
        table.append(cells)
    return table


def _figures_of(rows: list[dict]) -> list[tuple[str, str, list[str]]]:
    """Each figure once, with its caption and the claims it illustrates, in order of first
    use."""
    seen: dict[str, list[str]] = {}
    captions: dict[str, str] = {}
    for row in rows:
        control = row.get("control") or {}
        for name in row.get("figures") or []:
            seen.setdefault(name, []).append(row["id"])
            captions.setdefault(name, (row.get("captions") or {}).get(name, ""))
        for name in control.get("figures") or []:
            seen.setdefault(name, []).append(row["id"])
            own = (control.get("captions") or {}).get(name.removeprefix("control/"), "")
            captions.setdefault(name, f"{own} (untrained control)" if own else "")
    return [(name, captions[name] or name.removeprefix("control/").removesuffix(".png")
             .replace("_", " "), ids) for name, ids in seen.items()]


def unit_summary(checks: list[dict]) -> str:
    """Whether a model has a sentiment unit, from the precondition tests of the run."""
    if not checks:
        return "not tested in this run (no probe ran)"
    first = next((c for c in checks if c["dataset"] == "sst"), checks[0])
    held = list(dict.fromkeys(c["dataset"].upper() for c in checks if c["holds"]))
    verdict = f"**yes** on {', '.join(held)}" if held else "**none**"
    return (f"{verdict} (the unit alone against the majority class, one-sided exact binomial "
            f"test, p < 0.01; {first['dataset'].upper()}: {first['summary']})")


def _precondition_text(claim) -> str:
    units = [p for p in claim.preconditions if p.kind == "sentiment_unit"]
    classifiers = [p for p in claim.preconditions if p.kind == "classifier"]
    parts = []
    if units:
        datasets = ", ".join(p.dataset.upper() for p in units)
        which = "; any one of them" if claim.precondition_mode == "any" and len(units) > 1 else ""
        parts.append(f"a sentiment unit on {datasets} ({units[0].probe} probe; the unit alone "
                     f"beats the majority class, one-sided binomial p < {units[0].alpha:g}"
                     f"{which})")
    if classifiers:
        features = " and ".join(dict.fromkeys(FEATURE_NAMES[p.features] for p in classifiers))
        datasets = ", ".join(dict.fromkeys(p.dataset.upper() for p in classifiers))
        margins = "/".join(dict.fromkeys(f"{p.margin:g}" for p in classifiers))
        parts.append(f"the clean {features} classifiers on {datasets} ({classifiers[0].probe} "
                     f"probe) each beat the majority class of their test set by at least "
                     f"{margins} points")
    return "; and ".join(parts)


def _wrap(text: str, indent: str = "", width: int = 110) -> list[str]:
    """One Markdown paragraph or list item, wrapped (continuation lines indented)."""
    return textwrap.wrap(text, width=width, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [""]


def headline_rows(payload: dict) -> list[list[str]]:
    """dataset | published | measured | control | majority class | unit alone, for the probe
    claims on each dataset."""
    checks = {c["dataset"]: c for c in payload["provenance"].get("sentiment_unit", {})
              .get("model", []) if c.get("probe", "radford") == "radford"}
    rows = []
    for row in payload["claims"]:
        if not row["id"].endswith((".full_features", ".zero_shot")):
            continue
        details = row.get("details") or {}
        dataset = row["id"].split(".")[1]
        check = checks.get(dataset)
        majority = details.get("majority_class")
        rows.append([
            dataset.upper() + (" (zero-shot)" if row["id"].endswith("zero_shot") else ""),
            str(row["published"]), _measured_cell(row), _control_cell(row),
            f"{majority:.2f}" if isinstance(majority, float) else "-",
            check.get("short", check["summary"]) if check else "-"])
    return rows


HEADLINE = ["dataset", "published", "measured", "control", "majority class",
            "sentiment unit?"]


def render_markdown(results: list[ClaimResult], provenance: dict, sources: dict) -> str:
    """REPORT.md: the summary first, then one short table per source with its reasons,
    claims and figures, then the provenance."""
    payload, claims, headers = _prepared(results, provenance)
    model = provenance.get("model") or {}
    control = provenance.get("control")
    units = provenance.get("sentiment_unit") or {}
    counts = Counter(r.verdict for r in results)
    bullets = [f"Model: `{model.get('spec', 'none')}` ({model.get('n_units', '-')} units); "
               "OpenAI's released weights: "
               f"{'yes' if model.get('openai_release_verified') else 'no'}."]
    if model:
        bullets.append(f"Sentiment unit in the model: {unit_summary(units.get('model', []))}.")
    if control:
        only = provenance.get("control_claims", "all")
        bullets.append(f"Untrained control: `{control['spec']}`, the same weights before "
                       f"training; sentiment unit: {unit_summary(units.get('control', []))}."
                       + ("" if only == "all" else f" It ran on the claims matching "
                          f"{', '.join(only)} only; '-' elsewhere."))
    informative = [r for r in results if r.verdict in (PASS, FAIL)]
    why = Counter(_reason_kind(r.reason) for r in results if r.verdict == NOT_RUN)
    bullets.append(f"Informative verdicts: {len(informative)} ({counts[PASS]} PASS, "
                   f"{counts[FAIL]} FAIL), each measured as its source measured it. "
                   f"{counts[NOT_RUN]} NOT RUN"
                   + (": " + ", ".join(f"{n} {kind}" for kind, n in why.most_common())
                      if why else "") + ".")
    if provenance.get("fixtures"):
        bullets.append("This is the **fixtures** profile: the planted model on the tiny "
                       "bundled files. It checks that the harness finds a known answer and "
                       "says nothing about the published claims.")
    lines = [f"# Reproduction report: `{provenance['profile']}`", "",
             f"**{summary_line(results)}**", "", "## Summary", ""]
    for bullet in bullets:
        lines += _wrap(f"- {bullet}", "  ")
    head = headline_rows(payload)
    if head:
        lines += ["", "| " + " | ".join(HEADLINE) + " |",
                  "|" + "---|" * len(HEADLINE),
                  *["| " + " | ".join(r) + " |" for r in head]]
        lines += ["", *_wrap("Accuracies in percent: 95 % intervals in brackets (Wilson), the "
                             "spread over the 10 folds as sd; the last column is the "
                             "sentiment-unit test on each dataset.")]
    lines.append("")
    with_control = "control" in headers
    for source, citation, rows in _by_source(payload, sources):
        group = [r for r in results if r.claim.source == source]
        reasons = _Reasons()
        lines += [f"## {source}", "", *_wrap(f"{citation.reference}. {summary_line(group)}."),
                  "", tabulate(source_rows(rows, claims, with_control, reasons),
                               headers=headers, tablefmt="github", disable_numparse=True), ""]
        lines += reasons.lines("Reasons")
        lines += ["Claims:", ""]
        number = {}
        for n, r in enumerate(group, 1):
            c = r.claim
            number[c.id] = n
            rule = str(c.threshold) if c.kind == "shape" else (
                f"{c.published} {c.tolerance}" if isinstance(c.published, int | float) else "-")
            if c.kind == "value+shape" and c.shape_threshold is not None:
                rule += f"; shape: {c.shape_threshold}"
            item = (f"{n}. `{c.id}` (v{c.version}, {c.kind}): {c.statement}. Where: "
                    f"{c.citation.where or c.citation.reference}. Rule: {rule}"
                    + (f". Precondition: {_precondition_text(c)}" if c.preconditions else "")
                    + (f". Protocol: {_protocol_text(c.protocol)}" if c.protocol else "") + ".")
            lines += _wrap(item, "   ")
        lines.append("")
        gathered = {}  # one table of the rows several claims give (details["row_of"])
        for r in group:
            if r.details.get("row_of") and isinstance(r.details.get("row"), dict):
                gathered.setdefault(r.details["row_of"], []).append(r.details["row"])
        for title, table in gathered.items():
            lines += [f"{title}:", "", tabulate(table, headers="keys", tablefmt="github",
                                                floatfmt=".4g", disable_numparse=True), ""]
        for r in group:  # a claim's own table (details["table"]: rows as dicts)
            if r.details.get("table"):
                lines += [f"`{r.claim.id}`:", "",
                          tabulate(r.details["table"], headers="keys", tablefmt="github",
                                   floatfmt=".4g"), ""]
        for n, (name, caption, ids) in enumerate(_figures_of(rows), 1):
            which = ", ".join(str(number[i]) for i in ids)
            lines += [f"![{caption}]({name})", "",
                      *_wrap(f"*Figure {source}-{n}. {caption} (claim"
                             f"{'s' if len(ids) > 1 else ''} {which}).*"), ""]
    lines += ["## Provenance", "", tabulate(provenance_rows(provenance), headers=["", ""],
                                            tablefmt="github"),
              "", "The full record (versions, every data file's sha256, cache counts) is in "
              "`results.json`.", ""]
    return "\n".join(lines)


def _prepared(results: list[ClaimResult], provenance: dict):
    """The rows as results.json has them, the claims by id, and the per-source headers."""
    payload = {"provenance": provenance, "claims": [r.to_dict() for r in results]}
    with_control = any(r.control is not None for r in results)
    headers = ["claim", "published", "measured"] + (["control"] if with_control else []) + \
        ["tolerance / threshold", "verdict"]
    return payload, {r.claim.id: r.claim for r in results}, headers


def _by_source(payload: dict, sources: dict):
    """(source, citation, rows) for each source with rows in the report."""
    for source, citation in sources.items():
        rows = [row for row in payload["claims"] if row["source"] == source]
        if rows:
            yield source, citation, rows


def _protocol_text(protocol: dict) -> str:
    return ", ".join(f"{v:g} {k}" for k, v in protocol.items())


def _reason_kind(reason: str) -> str:
    """A NOT RUN reason, grouped for the summary."""
    for start, kind in (("needs OpenAI", "need OpenAI's released weights"),
                        ("precondition: no sentiment unit", "lack a sentiment unit in the model"),
                        ("precondition", "have no classifier with accuracy to lose"),
                        ("reduced budget", "ran below the protocol's budget"),
                        ("experiment not implemented", "have no experiment yet"),
                        ("skipped", "were skipped in this run"),
                        ("a published value is judged on the real data", "ran on fixtures")):
        if reason.startswith(start):
            return kind
    return "lack data, a value or a published number"


def provenance_rows(p: dict) -> list[list[str]]:
    versions = p.get("versions") or {}
    model, control = p.get("model") or {}, p.get("control") or {}
    rows = [["commit", f"`{p.get('git_commit')}`"],
            ["versions", ", ".join(f"{k} {versions[k]}" for k in
                                   ("python", "torch", "numpy", "scikit-learn") if k in versions)],
            ["device", p.get("device", "-")],
            ["seeds", ", ".join(f"{k} {v}" for k, v in (p.get("seeds") or {}).items())],
            ["model sha256", f"`{model.get('sha256', '-')}`"],
            ["OpenAI release verified", str(bool(model.get("openai_release_verified")))],
            ["probe solver", p.get("probe_solver", "liblinear")]]
    if control:
        rows.append(["control sha256", f"`{control.get('sha256', '-')}`"])
    rows += [["data", f"`{p.get('data_root')}`, {len(p.get('data_sha256') or {})} files "
                      "(sha256 of each in results.json)"],
             ["wall time", f"{p.get('wall_seconds')} s"]]
    fetched = p.get("fetched")
    if fetched:
        rows.insert(-1, ["fetched", "unreadable record" if isinstance(fetched, str) else
                         f"{', '.join(fetched)} by `neuron-repro fetch` (each file's sha256, "
                         "source and check in results.json)"])
    for merge in p.get("merged") or []:
        rows.append(["merged in", f"{len(merge.get('claims') or [])} claims "
                     f"({_claims_text(merge.get('claims') or [])}): commit "
                     f"`{_short_commit(merge.get('git_commit'))}`, {merge.get('device')}, "
                     f"{merge.get('wall_seconds')} s"])
    for who, stats in (p.get("cache") or {}).items():
        fits = (stats or {}).get("liblinear_fits")
        if fits:
            rows.append([f"liblinear fits ({who})", f"{fits['fitted']} fitted, "
                         f"{fits['read_from_cache']} read from the cache"])
    return rows


def _claims_text(ids: list[str]) -> str:
    """Claim ids said short: their common prefix once (``nerneurons2020.baseline_f1.*``), else
    a few ids, else how many of each source (results.json lists them all)."""
    common = os.path.commonprefix(ids) if len(ids) > 1 else ""
    common = common[:common.rfind(".") + 1] if "." in common else ""
    if common:
        return f"{common}*"
    if len(ids) <= 3:
        return ", ".join(ids)
    return ", ".join(f"{n} of {source}" for source, n in
                     Counter(i.split(".", 1)[0] for i in ids).items())


def _short_commit(commit) -> str:
    """A commit id shortened to 12 digits, its ``+dirty`` kept."""
    commit = str(commit)
    return commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")


def render_latex(results: list[ClaimResult], provenance: dict, sources: dict) -> str:
    """REPORT.tex: the summary and per-source tables as booktabs tables, ready to paste."""
    payload, claims, headers = _prepared(results, provenance)
    parts = ["% Generated by neuron-repro; needs \\usepackage{booktabs}.",
             "\\documentclass{article}", "\\usepackage{booktabs}", "\\usepackage[T1]{fontenc}",
             "\\usepackage[utf8]{inputenc}", "\\begin{document}", ""]
    head = headline_rows(payload)
    if head:
        parts += _latex_table(f"Summary of {provenance['profile']}: {summary_line(results)}.",
                              [r[:5] for r in head], HEADLINE[:5])
    for _, citation, rows in _by_source(payload, sources):
        table = source_rows(rows, claims, "control" in headers, _Reasons())
        table = [[cell.replace("`", "").replace("**", "") for cell in r] for r in table]
        parts += _latex_table(f"{citation.reference}.", table, headers)
    parts += ["\\end{document}", ""]
    return "\n".join(parts)


def _latex_table(caption_text: str, rows, headers) -> list[str]:
    body = tabulate(rows, headers=headers, tablefmt="latex_booktabs", disable_numparse=True)
    return ["\\begin{table}[ht]", "\\centering", "\\small", body,
            f"\\caption{{{_latex_escape(caption_text)}}}", "\\end{table}", ""]


def _latex_escape(text: str) -> str:
    for a, b in (("\\", "\\textbackslash{}"), ("&", "\\&"), ("%", "\\%"), ("$", "\\$"),
                 ("#", "\\#"), ("_", "\\_"), ("{", "\\{"), ("}", "\\}")):
        text = text.replace(a, b)
    return text


def write_report(results: list[ClaimResult], provenance: dict, out_dir: Path,
                 sources: dict) -> Path:
    """Write ``REPORT.md``, ``REPORT.tex`` and ``results.json`` into ``out_dir`` (each
    atomically)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"provenance": provenance, "claims": [r.to_dict() for r in results]}
    write_json(out_dir / "results.json", payload)
    _write_text(out_dir / "REPORT.tex", render_latex(results, provenance, sources))
    report = out_dir / "REPORT.md"
    _write_text(report, render_markdown(results, provenance, sources))
    return report


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text)


# ----------------------------------------------------------------------------- README
def _with_nulls(payload: dict) -> dict:
    """A results.json as read back, with the measured values it wrote as null (``inf``) put
    back, so that it renders as the report did."""
    from neuron_repro.io import recorded_null

    rows = []
    for i, row in enumerate(payload["claims"]):
        row = dict(row)
        if row.get("measured") is None and recorded_null(payload, f"claims[{i}].measured"):
            row["measured"] = float(recorded_null(payload, f"claims[{i}].measured"))
        if row.get("control") and row["control"].get("measured") is None:
            value = recorded_null(payload, f"claims[{i}].control.measured")
            if value:
                row["control"] = {**row["control"], "measured": float(value)}
        rows.append(row)
    return {**payload, "claims": rows}


def _described(path: Path, payload: dict) -> str:
    model = (payload["provenance"].get("model") or {}).get("spec")
    return (f"`{path.as_posix()}` (model `{model}`, commit "
            f"`{payload['provenance']['git_commit']}`)")


def readme_claim_table(registry, paths: list[Path], payloads: list[dict]) -> str:
    """Every registered claim; with reports, each claim's row from the first report that ran
    it (not skipped, and its experiment built then), with its measurement, verdict and the
    number of its reason."""
    from neuron_repro.runner import SKIPPED
    from neuron_repro.verdicts import NOT_IMPLEMENTED

    if not payloads:
        rows = [[f"`{c.id}`", c.kind, published_text(c), rule_text(c, 60),
                 "yes" if c.experiment else "not yet"] for c in registry]
        return tabulate(rows, headers=["claim", "kind", "published", "tolerance / threshold",
                                       "experiment"], tablefmt="github")
    payloads = [_with_nulls(p) for p in payloads]
    by_id = [{row["id"]: row for row in payload["claims"]} for payload in payloads]
    reasons, rows = _Reasons(), []
    for c in registry:
        found = [(i, table[c.id]) for i, table in enumerate(by_id) if c.id in table]
        ran = [(i, row) for i, row in found
               if not row.get("reason", "").startswith((SKIPPED, NOT_IMPLEMENTED))]
        source, row = (ran or found or [(None, {})])[0]
        cells = [f"`{c.id}`", c.kind, published_text(c), _measured_cell(row) if row else "-",
                 _control_cell(row) if row else "-", rule_text(c),
                 row.get("verdict", "not in report"), reasons.mark(row.get("reason", ""))]
        if len(paths) > 1:
            cells.append(str(source + 1) if source is not None else "-")
        rows.append(cells)
    if len(paths) == 1:
        head = [f"From {_described(paths[0], payloads[0])}.", ""]
    else:
        head = ["From the first of these reports that ran each claim (column *report*):", "",
                *[f"{i}. {_described(p, q)}" for i, (p, q) in
                  enumerate(zip(paths, payloads, strict=True), 1)], ""]
    headers = ["claim", "kind", "published", "measured", "control", "tolerance / threshold",
               "verdict", "reason"] + (["report"] if len(paths) > 1 else [])
    return "\n".join([*head, tabulate(rows, headers=headers, tablefmt="github",
                                       disable_numparse=True), "",
                      *reasons.lines("Reasons")]).rstrip()


def readme_headline(path: Path, payload: dict) -> str:
    """The report's headline table and its sentiment-unit summary, for the README."""
    payload = _with_nulls(payload)
    units = payload["provenance"].get("sentiment_unit") or {}
    lines = [f"From {_described(path, payload)}.", ""]
    lines += _wrap(f"- Sentiment unit in the model: {unit_summary(units.get('model', []))}.",
                   "  ")
    if units.get("control") is not None:
        lines += _wrap("- Sentiment unit in the untrained control: "
                       f"{unit_summary(units.get('control', []))}.", "  ")
    rows = headline_rows(payload)
    if rows:
        lines += ["", tabulate(rows, headers=HEADLINE, tablefmt="github", disable_numparse=True)]
    return "\n".join(lines)


def fill_markers(text: str, sections: dict[str, str], where,
                 required: tuple[str, ...] = ("claim-table",)) -> str:
    """Replace what stands between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` for each
    section; a section without markers is left out, unless it is ``required``."""
    for name, body in sections.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start not in text or end not in text:
            if name in required:
                raise ValueError(f"{where}: no {start} ... {end} markers to replace")
            continue
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{body}\n{end}{tail}"
    return text
