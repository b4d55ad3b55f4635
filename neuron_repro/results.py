"""The results schema, read back: a report's ``results.json`` holds ``{"provenance": ...,
"claims": [row, ...]}``, each row written by :meth:`ClaimResult.to_dict
<neuron_repro.verdicts.ClaimResult.to_dict>` (its verdict, its reason and a reason code from
:data:`~neuron_repro.verdicts.REASON_CODES`, the measured value, details, figures and their
captions, preconditions, the value+shape halves and the control's row), with values that are
not finite written as null and listed in ``null_values``. This module reads such a file back
into :class:`ClaimResult` objects, for merging and for rendering again."""

from __future__ import annotations

import re
from pathlib import Path

from neuron_repro.data.base import DatasetError
from neuron_repro.io import CorruptFileError, read_json_object, recorded_null
from neuron_repro.verdicts import (
    FAIL,
    PASS,
    REASON_CODES,
    Claim,
    ClaimResult,
    PreconditionResult,
)

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def read_report(path: Path) -> dict:
    """A report's ``results.json`` (``path``: the file or its folder), checked to be one."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        payload = read_json_object(path, {"provenance": dict, "claims": list},
                                   what="report's results.json")
        for i, row in enumerate(payload["claims"]):
            if not isinstance(row, dict) or not isinstance(row.get("id"), str):
                raise CorruptFileError(f"{path}: claims[{i}] is not a claim row with an id")
        if "git_commit" not in payload["provenance"]:
            raise CorruptFileError(f"{path}: its provenance lacks git_commit")
    except CorruptFileError as exc:
        raise DatasetError(f"{exc}. Give the results.json (or its folder) that `neuron-repro "
                           "reproduce` wrote") from exc
    return payload


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


def _captions(row: dict) -> dict[str, str]:
    """A row's figure captions; anything but a mapping of names to strings is dropped (the
    report then names the figure by its file)."""
    captions = row.get("captions")
    if not isinstance(captions, dict):
        return {}
    return {k: v for k, v in captions.items() if isinstance(k, str) and isinstance(v, str)}


def _code(row: dict) -> str:
    """A row's reason code; a report written before rows had one says "input"."""
    code = row.get("reason_code")
    if row.get("verdict") in (PASS, FAIL):
        return "judged"
    return code if code in REASON_CODES and code != "judged" else "input"


def result_from_row(row: dict, claim: Claim, where: str) -> ClaimResult:
    """The :class:`ClaimResult` a results.json row was written from (its ``to_dict``)."""
    if row.get("version") != claim.version:
        raise DatasetError(f"{where}: {claim.id} was measured as v{row.get('version')} of the "
                           f"claim, which is v{claim.version} now; rerun it")
    result = ClaimResult(claim, row["verdict"], row.get("measured"), row.get("reason", ""),
                         row.get("details") or {}, list(row.get("figures") or []),
                         captions=_captions(row), reason_code=_code(row),
                         preconditions=_preconditions(claim, row.get("preconditions"), where),
                         parts=row.get("parts") or {})
    control = row.get("control")
    if control:
        figures = [f.removeprefix("control/") for f in control.get("figures") or []]
        result.control = ClaimResult(
            claim, control["verdict"], control.get("measured"), control.get("reason", ""),
            control.get("details") or {}, figures,
            captions=_captions(control), reason_code=_code(control),
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
