"""Table cells and rows of a report, read from results.json rows (never from prose)."""

from __future__ import annotations

import math
import os
import textwrap
from collections import Counter

from neuron_repro.verdicts import (
    FAIL,
    FEATURE_NAMES,
    INCONCLUSIVE,
    JUDGED,
    NOT_RUN,
    PASS,
    ClaimResult,
)

# How the summary groups the NOT RUN rows, by reason code (neuron_repro.verdicts.REASON_CODES)
REASON_LABELS = {
    "release": "need OpenAI's released weights",
    "no_unit": "lack a sentiment unit in the model",
    "classifier": "have no classifier with accuracy to lose",
    "budget": "ran below the protocol's budget",
    "not_implemented": "have no experiment yet",
    "skipped": "were skipped in this run",
    "fixtures": "ran on fixtures",
    "no_published": "have no published number",
    "no_value": "produced no value",
    "input": "lack data or a model",
    "failed": "failed (see the reason)",
    "unchecked": "had their preconditions unchecked",
}


def format_value(value, details: dict | None = None, interval: dict | None = None) -> str:
    """A measured value for a table: ``-`` when there is none (``no unit`` when that is why),
    ``inf`` spelled out, its 95 % interval and the interval's kind when there is one (else a
    95 % interval or the spread over folds its details give)."""
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
    if interval:
        low, high = (_bound(interval.get(k), k) for k in ("low", "high"))
        text += f" [{low}, {high}] {interval.get('kind', '')}".rstrip()
    elif ci and all(isinstance(c, int | float) for c in ci):
        text += f" [{ci[0]:.1f}, {ci[1]:.1f}]"
    elif isinstance(details.get("test_accuracy_std"), float) and details.get("n_folds"):
        text += f" (sd {details['test_accuracy_std']:.2f})"
    return text


def _bound(value, which: str) -> str:
    """An interval's bound as :func:`format_value` writes a number (a one-sided bound read
    back without its null record is infinite)."""
    return format_value(value if value is not None else
                        -math.inf if which == "low" else math.inf)


def summary_line(results: list[ClaimResult]) -> str:
    counts = Counter(r.verdict for r in results)
    return (f"{len(results)} claims: {counts[PASS]} PASS, {counts[FAIL]} FAIL, "
            f"{counts[INCONCLUSIVE]} INCONCLUSIVE, {counts[NOT_RUN]} NOT RUN")


def verdict_cell(row: dict, mark: str = "") -> str:
    """The verdict in bold, with its margin in standard errors when it was judged on an
    interval, and the number of its reason."""
    margin = row.get("margin_se")
    said = f" {margin:+.1f} se" if isinstance(margin, int | float) and \
        not isinstance(margin, bool) and math.isfinite(margin) else ""
    return f"**{row['verdict']}**{said} {mark}".strip()


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


def measured_cell(row: dict) -> str:
    return format_value(row.get("measured"), row.get("details"), row.get("interval"))


def control_cell(row: dict, reasons: Reasons | None = None) -> str:
    """The control's value; for a shape claim its verdict too, and (with ``reasons``) the
    number of its reason when it was not judged for a reason of its own."""
    ctl = row.get("control")
    if not ctl:
        return "-"
    text = format_value(ctl.get("measured"), ctl.get("details"), ctl.get("interval"))
    if ctl.get("verdict") in JUDGED and row.get("kind") != "value":
        return f"{text} {ctl['verdict']}"
    if reasons is not None and ctl.get("verdict") == NOT_RUN and \
            ctl.get("reason") != row.get("reason"):
        return f"{text} {reasons.mark('control: ' + ctl['reason'])}"
    return text


class Reasons:
    """Distinct reasons, numbered in order of first use."""

    def __init__(self):
        self.texts: dict[str, int] = {}
        self.listed = 0  # how many are listed already (numbering runs through a report)

    def mark(self, reason: str) -> str:
        if not reason:
            return ""
        if reason not in self.texts:
            self.texts[reason] = len(self.texts) + 1
        return f"({self.texts[reason]})"

    def lines(self, title: str) -> list[str]:
        """The reasons not listed yet, under ``title``; a number not among them was listed
        under an earlier table of the same report."""
        new = [(text, n) for text, n in self.texts.items() if n > self.listed]
        if not new:
            return []
        self.listed = len(self.texts)
        out = [f"{title}:", ""]
        for text, n in new:
            out += wrap(f"{n}. {text}", "   ")
        return out + [""]


def source_rows(rows: list[dict], claims: dict, with_control: bool,
                reasons: Reasons, rule_width: int = 34) -> list[list[str]]:
    """One row per claim: id, published, measured, (control), rule (cut to ``rule_width``
    characters), verdict (reason number)."""
    table = []
    for row in rows:
        claim = claims[row["id"]]
        mark = reasons.mark(row.get("reason", ""))
        cells = [f"`{row['id']}`", published_text(claim), measured_cell(row)]
        if with_control:
            cells.append(control_cell(row, reasons))
        cells += [rule_text(claim, rule_width), verdict_cell(row, mark)]
        table.append(cells)
    return table


def figures_of(rows: list[dict]) -> list[tuple[str, str, list[str]]]:
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


def precondition_text(claim) -> str:
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


def wrap(text: str, indent: str = "", width: int = 110) -> list[str]:
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
            str(row["published"]), measured_cell(row), control_cell(row),
            f"{majority:.2f}" if isinstance(majority, float) else "-",
            check.get("short", check["summary"]) if check else "-"])
    return rows


HEADLINE = ["dataset", "published", "measured", "control", "majority class",
            "sentiment unit?"]


def prepared(results: list[ClaimResult], provenance: dict):
    """The rows as results.json has them, the claims by id, and the per-source headers."""
    payload = {"provenance": provenance, "claims": [r.to_dict() for r in results]}
    with_control = any(r.control is not None for r in results)
    headers = ["claim", "published", "measured"] + (["control"] if with_control else []) + \
        ["tolerance / threshold", "verdict"]
    return payload, {r.claim.id: r.claim for r in results}, headers


def by_source(payload: dict, sources: dict):
    """(source, citation, rows) for each source with rows in the report."""
    for source, citation in sources.items():
        rows = [row for row in payload["claims"] if row["source"] == source]
        if rows:
            yield source, citation, rows


def protocol_text(protocol: dict) -> str:
    return ", ".join(f"{v:g} {k}" for k, v in protocol.items())


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
                     f"({claims_text(merge.get('claims') or [])}): commit "
                     f"`{short_commit(merge.get('git_commit'))}`, {merge.get('device')}, "
                     f"{merge.get('wall_seconds')} s"])
    for who, stats in (p.get("cache") or {}).items():
        fits = (stats or {}).get("liblinear_fits")
        if fits:
            rows.append([f"liblinear fits ({who})", f"{fits['fitted']} fitted, "
                         f"{fits['read_from_cache']} read from the cache"])
    return rows


def claims_text(ids: list[str]) -> str:
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


def short_commit(commit) -> str:
    """A commit id shortened to 12 digits, its ``+dirty`` kept."""
    commit = str(commit)
    return commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")
