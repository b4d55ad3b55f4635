"""REPORT.md: the summary first, then one short table per source, then the provenance."""

from __future__ import annotations

from collections import Counter

from tabulate import tabulate

from neuron_repro.report.cells import (
    HEADLINE,
    REASON_LABELS,
    Reasons,
    by_source,
    figures_of,
    headline_rows,
    precondition_text,
    prepared,
    protocol_text,
    provenance_rows,
    source_rows,
    summary_line,
    unit_summary,
    wrap,
)
from neuron_repro.verdicts import FAIL, INCONCLUSIVE, JUDGED, NOT_RUN, PASS, ClaimResult


def render_markdown(results: list[ClaimResult], provenance: dict, sources: dict,
                    docs: str | None = None) -> str:
    """REPORT.md: the summary first, then one short table per source with its reasons (one
    numbering for the whole report), its claims and its figures, then the provenance.

    ``docs`` is the link to the generated claim table (``docs/claims.md``) as seen from the
    report's folder: each claim then links to its statement, rule and history there instead
    of repeating them; without it the report says them itself.
    """
    payload, claims, headers = prepared(results, provenance)
    lines = [f"# Reproduction report: `{provenance['profile']}`", "",
             f"**{summary_line(results)}**", "", "## Summary", ""]
    for bullet in _summary(results, provenance):
        lines += wrap(f"- {bullet}", "  ")
    head = headline_rows(payload)
    if head:
        lines += ["", "| " + " | ".join(HEADLINE) + " |",
                  "|" + "---|" * len(HEADLINE),
                  *["| " + " | ".join(r) + " |" for r in head]]
        lines += ["", *wrap("Accuracies in percent: 95 % intervals in brackets (Wilson), the "
                            "spread over the 10 folds as sd; the last column is the "
                            "sentiment-unit test on each dataset.")]
    lines.append("")
    with_control = "control" in headers
    reasons = Reasons()
    for source, citation, rows in by_source(payload, sources):
        group = [r for r in results if r.claim.source == source]
        lines += [f"## {source}", "", *wrap(f"{citation.reference}. {summary_line(group)}."),
                  "", tabulate(source_rows(rows, claims, with_control, reasons),
                               headers=headers, tablefmt="github", disable_numparse=True), ""]
        lines += reasons.lines("Reasons")
        number = {r.claim.id: n for n, r in enumerate(group, 1)}
        lines += ["Claims:", ""]
        for n, r in enumerate(group, 1):
            lines += wrap(f"{n}. {_claim_item(r.claim, docs)}", "   ")
        lines.append("")
        lines += _tables(group)
        lines += _figures(source, rows, number)
    lines += ["## Provenance", "", tabulate(provenance_rows(provenance), headers=["", ""],
                                            tablefmt="github"),
              "", "The full record (versions, every data file's sha256, cache counts) is in "
              "`results.json`.", ""]
    return "\n".join(lines)


def _summary(results: list[ClaimResult], provenance: dict) -> list[str]:
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
        # where it ran is read from the rows, which a merge may have replaced by rows of a
        # run without the control, not from the patterns the run was given
        ran = sum(r.control is not None for r in results)
        bullets.append(f"Untrained control: `{control['spec']}`, the same weights before "
                       f"training; sentiment unit: {unit_summary(units.get('control', []))}."
                       + ("" if ran == len(results) else f" {ran} of the {len(results)} "
                          "claims have its row; '-' marks the others (claims it was not run "
                          "on, or that measured nothing on the model)."))
    informative = [r for r in results if r.verdict in JUDGED]
    pointwise = [r for r in informative if r.interval is None]
    why = Counter(REASON_LABELS.get(r.reason_code, REASON_LABELS["input"])
                  for r in results if r.verdict == NOT_RUN)
    bullets.append(f"Informative verdicts: {len(informative)} ({counts[PASS]} PASS, "
                   f"{counts[FAIL]} FAIL, {counts[INCONCLUSIVE]} INCONCLUSIVE), each measured "
                   "with the full protocol its claim declares"
                   + (f"; {len(pointwise)} of them on a point estimate, without an interval"
                      if pointwise else "; each judged on its interval" if informative
                      else "") + ". "
                   f"{counts[NOT_RUN]} NOT RUN"
                   + (": " + ", ".join(f"{n} {kind}" for kind, n in why.most_common())
                      if why else "") + ".")
    if provenance.get("fixtures"):
        bullets.append("This is the **fixtures** profile: the planted model on the tiny "
                       "bundled files. It checks that the harness finds a known answer and "
                       "says nothing about the published claims.")
    return bullets


def _claim_item(c, docs: str | None) -> str:
    """A claim in a report's list: a link to its entry in the docs, or (without docs) what
    the entry would say."""
    if docs:
        return (f"[`{c.id}`]({docs}#{c.id}) (v{c.version}, {c.kind}): "
                f"{c.citation.where or c.citation.reference}.")
    rule = str(c.threshold) if c.kind == "shape" else (
        f"{c.published} {c.tolerance}" if isinstance(c.published, int | float) else "-")
    if c.kind == "value+shape" and c.shape_threshold is not None:
        rule += f"; shape: {c.shape_threshold}"
    return (f"`{c.id}` (v{c.version}, {c.kind}): {c.statement}. Where: "
            f"{c.citation.where or c.citation.reference}. Rule: {rule}"
            + (f". Precondition: {precondition_text(c)}" if c.preconditions else "")
            + (f". Protocol: {protocol_text(c.protocol)}" if c.protocol else "") + ".")


def _tables(group: list[ClaimResult]) -> list[str]:
    """The tables several claims' rows make together (``details["row_of"]``), then each
    claim's own (``details["table"]``)."""
    lines, gathered = [], {}
    for r in group:
        if r.details.get("row_of") and isinstance(r.details.get("row"), dict):
            gathered.setdefault(r.details["row_of"], []).append(r.details["row"])
    for title, table in gathered.items():
        lines += [f"{title}:", "", tabulate(table, headers="keys", tablefmt="github",
                                            floatfmt=".4g", disable_numparse=True), ""]
    for r in group:
        if r.details.get("table"):
            lines += [f"`{r.claim.id}`:", "",
                      tabulate(r.details["table"], headers="keys", tablefmt="github",
                               floatfmt=".4g"), ""]
    return lines


def _figures(source: str, rows: list[dict], number: dict) -> list[str]:
    """Each figure once, with its caption once; a figure of the model and the same figure of
    the untrained control stand side by side."""
    figures = figures_of(rows)
    names = {name for name, _, _ in figures}
    lines, n = [], 0
    for name, caption, ids in figures:
        if name.startswith("control/") and name.removeprefix("control/") in names:
            continue  # shown beside the model's
        n += 1
        control = f"control/{name}"
        which = ", ".join(str(number[i]) for i in dict.fromkeys(ids))
        label = f"Figure {source}-{n}"
        if control in names:
            lines += ["| model | untrained control |", "|---|---|",
                      f"| ![{label}, model]({name}) | ![{label}, control]({control}) |", ""]
            caption += "; left the model, right its untrained control"
        else:
            lines += [f"![{label}]({name})", ""]
        lines += [*wrap(f"*{label}. {caption} (claim{'s' if len(ids) > 1 else ''} {which}).*"),
                  ""]
    return lines
