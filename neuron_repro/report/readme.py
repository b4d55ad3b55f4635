"""The README's tables, generated from reports' results.json: every claim with its verdict,
and the headline table."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from neuron_repro.io import recorded_null
from neuron_repro.report.cells import (
    HEADLINE,
    Reasons,
    control_cell,
    headline_rows,
    measured_cell,
    published_text,
    rule_text,
    unit_summary,
    verdict_cell,
    wrap,
)


def _with_nulls(payload: dict) -> dict:
    """A results.json as read back, with the measured values it wrote as null (``inf``) put
    back, so that it renders as the report did."""
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
    if not payloads:
        rows = [[f"`{c.id}`", c.kind, published_text(c), rule_text(c, 60),
                 "yes" if c.experiment else "not yet"] for c in registry]
        return tabulate(rows, headers=["claim", "kind", "published", "tolerance / threshold",
                                       "experiment"], tablefmt="github")
    payloads = [_with_nulls(p) for p in payloads]
    by_id = [{row["id"]: row for row in payload["claims"]} for payload in payloads]
    reasons, rows = Reasons(), []
    for c in registry:
        found = [(i, table[c.id]) for i, table in enumerate(by_id) if c.id in table]
        ran = [(i, row) for i, row in found
               if row.get("reason_code") not in ("skipped", "not_implemented")]
        source, row = (ran or found or [(None, {})])[0]
        cells = [f"`{c.id}`", c.kind, published_text(c), measured_cell(row) if row else "-",
                 control_cell(row) if row else "-", rule_text(c),
                 verdict_cell(row).replace("**", "") if row else "not in report",
                 reasons.mark(row.get("reason", ""))]
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
    lines += wrap(f"- Sentiment unit in the model: {unit_summary(units.get('model', []))}.",
                   "  ")
    if units.get("control") is not None:
        lines += wrap("- Sentiment unit in the untrained control: "
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
