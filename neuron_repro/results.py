"""The results schema: a report's ``results.json`` holds ``{"provenance": ..., "claims": [row,
...]}``, each row written by :meth:`ClaimResult.to_dict
<neuron_repro.verdicts.ClaimResult.to_dict>` (its verdict, its reason and a reason code from
:data:`~neuron_repro.verdicts.REASON_CODES`, the measured value, details, figures and their
captions, preconditions, the value+shape halves and the control's row), with values that are
not finite written as null and listed in ``null_values``.

A report is exchanged between people, so one read back is untrusted input: :data:`SCHEMA`
(JSON Schema, published as ``reports/results.schema.json``) is checked before anything in it
is used, and a figure is a plain file name inside the report folder. This module reads a
checked file back into :class:`ClaimResult` objects, for merging and for rendering again."""

from __future__ import annotations

import re
from pathlib import Path

from neuron_repro.data.base import DatasetError
from neuron_repro.io import CorruptFileError, read_json_object, recorded_null
from neuron_repro.verdicts import (
    INCONCLUSIVE,
    INTERVAL_KINDS,
    JUDGED,
    REASON_CODES,
    VERDICTS,
    Claim,
    ClaimResult,
    Interval,
    PreconditionResult,
    shape_verdict,
    value_verdict,
)

# A figure is a PNG file directly in the report folder (a control's, in its control/ folder):
# no other separator, no "..", nothing absolute.
FIGURE = r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]*\.png$"
CONTROL_FIGURE = r"^control/(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]*\.png$"
# a page that stands beside the figures (the unit viewer, a model card), named the same way
PAGE = r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]*\.(html|md)$"
CONTROL_PAGE = r"^control/(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]*\.(html|md)$"
# how a value that was not finite is recorded (neuron_repro.io.dumps_json)
NULL_NOTE = r"^not a finite number \((inf|-inf|nan)\); written as null$"
_VERDICT = {"enum": list(VERDICTS)}
_CODE = {"enum": list(REASON_CODES)}
_NUMBER = {"type": ["number", "null"]}
_TEXT = {"type": "string"}
_PRECONDITION = {"type": "object", "required": ["holds"], "properties": {
    "holds": {"type": "boolean"}, "summary": _TEXT, "dataset": _TEXT, "probe": _TEXT,
    "precondition": _TEXT, "kind": {"enum": ["sentiment_unit", "classifier"]},
    "features": _TEXT, "margin": _NUMBER}}
# an interval's bounds may be infinite (a one-sided bound), written as null and noted
_INTERVAL = {"oneOf": [{"type": "null"}, {
    "type": "object", "required": ["low", "high", "kind"], "properties": {
        "low": _NUMBER, "high": _NUMBER, "kind": {"enum": list(INTERVAL_KINDS)},
        "level": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "n": {"type": ["integer", "null"], "minimum": 0}, "note": _TEXT}}]}
_PARTS = {"type": "object", "additionalProperties": {"type": "object", "properties": {
    "verdict": _VERDICT, "reason": _TEXT, "measured": _NUMBER, "margin_se": _NUMBER,
    "interval": _INTERVAL}}}


def _outcome(figure: str, page: str) -> dict:
    """The fields a claim's row and its control's row share."""
    return {"measured": _NUMBER, "interval": _INTERVAL, "margin_se": _NUMBER,
            "verdict": _VERDICT, "reason": _TEXT, "reason_code": _CODE,
            "details": {"type": "object"},
            "figures": {"type": "array", "items": {"type": "string", "pattern": figure}},
            "captions": {"type": "object", "additionalProperties": _TEXT},
            "pages": {"type": "array", "items": {"type": "string", "pattern": page}},
            "preconditions": {"type": "array", "items": _PRECONDITION}, "parts": _PARTS}


SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "neuron-repro results.json",
    "type": "object",
    "required": ["provenance", "claims"],
    "properties": {
        "provenance": {"type": "object", "required": ["git_commit"], "properties": {
            "git_commit": _TEXT, "profile": _TEXT, "fixtures": {"type": "boolean"},
            "device": _TEXT, "preprocessing": {"type": ["string", "integer"]}, "data_root": _TEXT,
            "model": {"type": ["object", "null"], "properties": {"sha256": _TEXT}},
            "control": {"type": ["object", "null"], "properties": {"sha256": _TEXT}},
            "data_sha256": {"type": "object", "additionalProperties": _TEXT},
            "merged": {"type": "array", "items": {"type": "object", "properties": {
                "claims": {"type": "array", "items": _TEXT},
                "figures": {"type": "array", "items": _TEXT}}}},
            "sentiment_unit": {"type": "object", "additionalProperties": {
                "type": "array", "items": {"type": "object"}}},
            "wall_seconds": _NUMBER}},
        "claims": {"type": "array", "items": {
            "type": "object", "required": ["id", "verdict", "version"],
            "properties": {
                "id": {"type": "string", "minLength": 1}, "source": _TEXT, "kind": _TEXT,
                "statement": _TEXT, "metric": _TEXT, "requires": _TEXT, "citation": _TEXT,
                "published": {"type": ["number", "string", "null"]},
                "tolerance": {"type": ["string", "null"]},
                "threshold": {"type": ["string", "null"]},
                "version": {"type": "integer"},
                "protocol": {"type": "object"},
                **_outcome(FIGURE, PAGE),
                "control": {"oneOf": [{"type": "null"}, {
                    "type": "object", "required": ["verdict"],
                    "properties": _outcome(CONTROL_FIGURE, CONTROL_PAGE)}]},
            }}},
        "null_values": {"type": "object",
                        "propertyNames": {"pattern": r"^claims\[\d+\]"},
                        "additionalProperties": {"type": "string", "pattern": NULL_NOTE}},
    },
}


def check_payload(payload: dict, path: Path) -> None:
    """Raise a DatasetError naming ``path`` and the first field of ``payload`` that the schema
    refuses, or a claim id that has two rows."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(payload))
    if error is not None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise DatasetError(f"{path}: {where.lstrip('.') or 'the file'}: {error.message}")
    ids = [row["id"] for row in payload["claims"]]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise DatasetError(f"{path}: claims: {', '.join(twice)} has more than one row")


_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def read_report(path: Path) -> dict:
    """A report's ``results.json`` (``path``: the file or its folder), checked to be one."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        payload = read_json_object(path, {"provenance": dict, "claims": list},
                                   what="report's results.json")
    except CorruptFileError as exc:
        raise DatasetError(f"{exc}. Give the results.json (or its folder) that `neuron-repro "
                           "reproduce` wrote") from exc
    check_payload(payload, path)
    return payload


REPORT_FILES = ("results.json", "REPORT.md", "REPORT.tex")


def report_files(folder: Path) -> set[str]:
    """The files of the report in ``folder`` (names relative to it): the report's own three
    and every figure its rows name (a control's under ``control/``). Raises a DatasetError
    when its results.json is there but is not a report, since nothing then says which files
    are its figures."""
    folder = Path(folder)
    names = set(REPORT_FILES)
    if not (folder / "results.json").exists():
        return names
    try:
        payload = read_report(folder)
    except DatasetError as exc:
        raise DatasetError(f"{exc}. A new report replaces this one whole, so it must know its "
                           f"files: move {folder} away or give another folder") from exc
    for row in payload["claims"]:
        for outcome in (row, row.get("control") or {}):  # a control's names hold control/
            names.update([*(outcome.get("figures") or []), *(outcome.get("pages") or [])])
    return names


def _restore_nulls(payload: dict, index: int, row: dict) -> dict:
    """``row`` (``claims[index]``) with each value written as null because it was not finite
    (``inf``, ``nan``) put back as that float."""
    prefix = f"claims[{index}]"
    for where in payload.get("null_values") or {}:
        if not where.startswith(prefix) or where[len(prefix):][:1] not in (".", "["):
            continue
        steps = [m.group(1) if m.group(1) is not None else int(m.group(2))
                 for m in _STEP.finditer(where[len(prefix):])]
        node = row
        try:
            for step in steps[:-1]:
                node = node[step]
            if node[steps[-1]] is not None:
                raise TypeError
        except (KeyError, IndexError, TypeError) as exc:
            raise DatasetError(f"the report's null_values names {where}, which is not a null "
                               "there; the results.json was edited or is damaged") from exc
        node[steps[-1]] = float(recorded_null(payload, where))
    return row


def _preconditions(claim: Claim, rows: list, where: str) -> list[PreconditionResult]:
    out = []
    for row in rows or []:
        # rows written before preconditions had kinds are sentiment-unit tests
        match = [p for p in claim.preconditions
                 if p.dataset == row.get("dataset") and p.probe == row.get("probe")
                 and p.kind == row.get("kind", "sentiment_unit")
                 and (p.kind != "classifier" or p.features == row.get("features"))]
        if not match:
            raise DatasetError(f"{where}: a precondition ({row.get('precondition')}) that "
                               f"{claim.id} does not declare")
        details = {k: v for k, v in row.items()
                   if k not in ("precondition", "kind", "dataset", "probe", "features", "margin",
                                "holds", "summary")}
        out.append(PreconditionResult(match[0], bool(row.get("holds")),
                                      str(row.get("summary", "")), details))
    return out


def _code(row: dict) -> str:
    """A row's reason code; a report written before rows had one says "input"."""
    code = row.get("reason_code")
    if row.get("verdict") in JUDGED:
        return "judged"
    return code if code in REASON_CODES and code != "judged" else "input"


def _interval(data, where: str) -> Interval | None:
    """A row's interval; its bounds that were not finite are put back by ``_restore_nulls``
    before it is read, so a null bound here is one the report does not account for."""
    if not data:
        return None
    try:
        return Interval(data["low"], data["high"], data["kind"], data.get("level", 0.95),
                        data.get("n"), data.get("note", ""))
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{where}: interval: {exc}") from exc


def _check_verdict(row: dict, claim: Claim, where: str) -> None:
    """A judged verdict (PASS, FAIL, INCONCLUSIVE) must follow from the row's measured value
    and interval by the claim's rule (for a value or a shape claim): a verdict edited by hand
    is refused."""
    verdict, value = row.get("verdict"), row.get("measured")
    if verdict not in JUDGED or not isinstance(value, int | float) or \
            isinstance(value, bool) or claim.kind == "value+shape":
        return
    interval = _interval(row.get("interval"), where)
    if verdict == INCONCLUSIVE and interval is None:
        raise DatasetError(f"{where}: verdict INCONCLUSIVE without an interval; the "
                           "results.json was edited or is damaged")
    details = row.get("details") or {}
    if claim.kind == "value" and isinstance(claim.published, int | float) and claim.tolerance:
        derived = value_verdict(claim, value, True, False, interval)[0]
    elif claim.kind == "shape" and claim.threshold is not None:
        try:
            derived = shape_verdict(claim.threshold, value, details, interval)[0]
        except (KeyError, TypeError):
            return  # a statistic of the details that the row does not carry: not checkable
    else:
        return
    if derived != verdict:
        raise DatasetError(f"{where}: verdict {verdict} does not follow from the measured "
                           f"{value!r} (interval {interval}) by the claim's rule, which gives "
                           f"{derived}; the results.json was edited or is damaged")


def result_from_row(row: dict, claim: Claim, where: str) -> ClaimResult:
    """The :class:`ClaimResult` a results.json row was written from (its ``to_dict``)."""
    if row.get("version") != claim.version:
        raise DatasetError(f"{where}: {claim.id} was measured as v{row.get('version')} of the "
                           f"claim, which is v{claim.version} now; rerun it")
    _check_verdict(row, claim, where)
    result = ClaimResult(claim, row["verdict"], row.get("measured"), row.get("reason", ""),
                         row.get("details") or {}, list(row.get("figures") or []),
                         captions=dict(row.get("captions") or {}), reason_code=_code(row),
                         pages=list(row.get("pages") or []),
                         interval=_interval(row.get("interval"), where),
                         margin_se=row.get("margin_se"),
                         preconditions=_preconditions(claim, row.get("preconditions"), where),
                         parts=row.get("parts") or {})
    control = row.get("control")
    if control:
        figures = [f.removeprefix("control/") for f in control.get("figures") or []]
        result.control = ClaimResult(
            claim, control["verdict"], control.get("measured"), control.get("reason", ""),
            control.get("details") or {}, figures,
            captions=dict(control.get("captions") or {}), reason_code=_code(control),
            pages=[f.removeprefix("control/") for f in control.get("pages") or []],
            interval=_interval(control.get("interval"), where),
            margin_se=control.get("margin_se"),
            preconditions=_preconditions(claim, control.get("preconditions"), where),
            parts=control.get("parts") or {})
    return result


def results_of(payload: dict, registry: list[Claim], where: str,
               skip=frozenset()) -> dict[str, ClaimResult]:
    """Every row of a report as a :class:`ClaimResult`, by claim id; the rows of ``skip``
    (about to be replaced, perhaps measured by an earlier version of their claim) are left
    out unread."""
    claims = {c.id: c for c in registry}
    out = {}
    for i, row in enumerate(payload["claims"]):
        if row["id"] in skip:
            continue
        if row["id"] not in claims:
            raise DatasetError(f"{where}: {row['id']} is not a registered claim; rerun the "
                               "report with this checkout")
        out[row["id"]] = result_from_row(_restore_nulls(payload, i, dict(row)),
                                         claims[row["id"]], f"{where}, {row['id']}")
    return out
