"""Bring rows of one reproduction report into another: a claim rerun on its own (with more
epochs, another solver) replaces its row in the full report, which keeps every other row.

The two reports must describe the same run conditions that decide a number: the same model
and control weights (sha256), the same data files where both read one, the same
preprocessing, and each row the version of its claim that is registered now. The merged
report's provenance lists, for every merge, the claims it brought in and the commit,
device, versions and settings of the run that made them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from neuron_repro.cache import sha256_file
from neuron_repro.data.base import DatasetError
from neuron_repro.folders import staged_folder
from neuron_repro.io import atomic_write
from neuron_repro.results import REPORT_FILES, read_report, results_of
from neuron_repro.verdicts import Claim, ClaimResult, select_claims


def _sha(provenance: dict, who: str):
    return (provenance.get(who) or {}).get("sha256")


def _check_compatible(target: dict, source: dict, into: Path, src: Path) -> None:
    a, b = target["provenance"], source["provenance"]
    for key, what in (("model", "model"), ("control", "control")):
        if b.get(key) and _sha(a, key) != _sha(b, key):
            raise DatasetError(f"{src} was made with the {what} {_sha(b, key)} and {into} with "
                               f"{_sha(a, key)}; merge only reports of the same weights")
    for key in ("fixtures", "preprocessing"):
        if a.get(key) != b.get(key):
            raise DatasetError(f"{src} has {key} {b.get(key)!r} and {into} {a.get(key)!r}; "
                               "merge only reports made the same way")
    data_a, data_b = a.get("data_sha256") or {}, b.get("data_sha256") or {}
    changed = sorted(f for f in set(data_a) & set(data_b) if data_a[f] != data_b[f])
    if changed:
        raise DatasetError(f"the data file {changed[0]} differs between {src} and {into} "
                           f"({len(changed)} files do); merge only runs on the same data")


def _figure_names(result: ClaimResult) -> list[str]:
    own = [*result.figures, *result.pages]
    if result.control is not None:
        own += [f"control/{f}" for f in [*result.control.figures, *result.control.pages]]
    return own


def _figures_to_copy(rows: list[ClaimResult], kept: list[ClaimResult], src: Path) -> list[str]:
    """The merged rows' figures and pages, each shown by no kept row; a figure must be in
    ``src``, a page is copied when it is there (the viewer's pages, which quote the datasets,
    are left out of committed reports)."""
    used = {f: r.claim.id for r in kept for f in _figure_names(r)}
    wanted = sorted({f for r in rows for f in _figure_names(r)})
    for name in wanted:
        if name in used:
            raise DatasetError(f"the figure {name} of the merged rows is also the figure of "
                               f"{used[name]}, which the merge keeps; merge that claim too")
        if not (src / name).is_file() and name.endswith(".png"):
            raise DatasetError(f"{src / name}: a figure the merged rows name is missing; "
                               "rerun the claims into that report")
    return [name for name in wanted if (src / name).is_file()]


def _copy_figures(names: list[str], src: Path, into: Path) -> None:
    for name in names:
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(into / name, Path(name).suffix + ".tmp") as tmp:
            shutil.copyfile(src / name, tmp)


def merge_reports(into: Path, src: Path, patterns, registry: list[Claim],
                  sources: dict) -> tuple[Path, list[str]]:
    """Replace (or add) in the report folder ``into`` the rows of the report folder ``src``
    whose claim id contains one of ``patterns``, with their figures; rewrite ``into``'s
    REPORT.md, REPORT.tex and results.json. Returns the report and the merged claim ids."""
    into, src = (p.parent if p.name == "results.json" else p for p in (Path(into), Path(src)))
    read_report(into)  # a target that is no report is named before anything is locked
    with staged_folder(into, "--into", "merge or reproduce") as staged:
        return _merge(into, src, patterns, registry, sources, staged)


def _merge(into: Path, src: Path, patterns, registry: list[Claim], sources: dict, staged):
    from neuron_repro.report import render_report, write_rendered

    target, source = read_report(into), read_report(src)
    _check_compatible(target, source, into, src)
    given = results_of(source, registry, str(src / "results.json"))
    chosen = [c.id for c in select_claims(registry, patterns) if c.id in given]
    if not chosen:
        raise DatasetError(f"--only: no row of {src / 'results.json'} matches "
                           f"{', '.join(patterns)}")
    # the rows replaced are not read back: a rerun after a claim's version changed replaces
    # a row of the old version
    kept = results_of(target, registry, str(into / "results.json"), skip=set(chosen))
    merged = [given[i] for i in chosen]
    figures = _figures_to_copy(merged, list(kept.values()), src)
    replaced = {f for row in target["claims"] if row["id"] in chosen
                for outcome in (row, row.get("control") or {})
                for f in [*(outcome.get("figures") or []), *(outcome.get("pages") or [])]}
    kept.update((i, given[i]) for i in chosen)
    order = {c.id: n for n, c in enumerate(registry)}
    results = sorted(kept.values(), key=lambda r: order[r.claim.id])
    b = source["provenance"]
    provenance = dict(target["provenance"])
    provenance["data_sha256"] = dict(sorted({**(provenance.get("data_sha256") or {}),
                                             **(b.get("data_sha256") or {})}.items()))
    units = provenance.get("sentiment_unit") or {}
    for who, checks in (b.get("sentiment_unit") or {}).items():
        # each (dataset, probe) tested by the later run replaces the report's test of it
        both = {(c.get("dataset"), c.get("probe")): c for c in [*units.get(who, []), *checks]}
        units[who] = list(both.values())
    provenance["sentiment_unit"] = units
    provenance["merged"] = [*provenance.get("merged", []), {
        # the source by its name and the hash of its results, not by a path of the machine
        # that merged it
        "from": src.resolve().name, "results_sha256": sha256_file(src / "results.json"),
        "claims": chosen, "figures": figures,
        **{k: b.get(k) for k in ("git_commit", "device", "platform", "versions",
                                 "probe_solver", "settings", "seeds", "wall_seconds")},
        "control": _sha(b, "control")}]
    # rendered first, then the figures copied, then the report written, all into the new
    # folder, which replaces the target whole only when everything is there
    rendered = render_report(results, provenance, into, sources)
    _copy_figures(figures, src, staged.path)
    write_rendered(staged.path, rendered)
    # a figure of a replaced row that none shows now is not carried over
    staged.dropped = set(REPORT_FILES) | (replaced - {f for r in results
                                                      for f in _figure_names(r)})
    return into / "REPORT.md", chosen
