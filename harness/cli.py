"""The ``neuron-repro`` command: parses arguments, calls the library, prints."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from harness.data.base import DatasetError, decode


def read_texts(path: str | os.PathLike) -> list[str]:
    """Texts from ``.jsonl`` (field ``text``), ``.csv`` (column ``sentence`` or ``text``) or
    ``.txt`` (one text a line, empty lines kept as empty texts)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    content = decode(path.read_bytes(), path)
    if path.suffix == ".jsonl":
        texts = []
        for number, line in enumerate(content.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise DatasetError(f"{path}:{number}: expected an object with a string 'text'")
            texts.append(record["text"])
        return texts
    if path.suffix == ".csv":
        reader = csv.DictReader(io.StringIO(content))
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        column = next((f for f in ("sentence", "text") if f in fields), None)
        if column is None:
            raise DatasetError(f"{path}: no 'sentence' or 'text' column in {reader.fieldnames}")
        original = reader.fieldnames[fields.index(column)]
        return [row[original] or "" for row in reader]
    if path.suffix == ".txt":
        return content.splitlines()
    raise DatasetError(f"{path}: unknown input type {path.suffix!r}; use .jsonl, .csv or .txt")


def _save_npy_atomic(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
    with os.fdopen(fd, "wb") as f:
        np.save(f, array, allow_pickle=False)
    os.replace(tmp, path)


def cmd_features(args) -> int:
    from harness.features import default_cache_dir, extract_states, parse_states
    from harness.repro import load_model, resolve_device

    states = parse_states(args.state)
    model = load_model(args.model)
    texts = read_texts(args.input)
    cache = None if args.no_cache else (args.cache_dir or default_cache_dir())
    X = extract_states(model, texts, states, batch_size=args.batch_size,
                       device=resolve_device(args.device), cache_dir=cache)
    _save_npy_atomic(Path(args.out), X.astype(np.float32))
    print(f"wrote {args.out}: {X.shape[0]} texts x {X.shape[1]} columns ({','.join(states)})")
    return 0


def cmd_probe(args) -> int:
    from harness.analysis.sentiment_unit import run_dataset_probe
    from harness.data import load_folder
    from harness.repro import make_context

    ctx = make_context(profile="probe", model_spec=args.model, data_dir=args.data_dir,
                       out_dir=args.figures, device=args.device, cache_dir=args.cache_dir)
    if not args.figures:
        ctx.out_dir = None
    if args.data:
        name = Path(args.data).name
        ctx.memo[("dataset", name)] = load_folder(args.data, name)
    else:
        name = args.dataset
    out = run_dataset_probe(ctx, name)
    out.pop("folds", None)
    out = {"dataset": name, "model": ctx.model_spec, "model_sha256": ctx.model.sha256, **out}
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{name}: test accuracy {out['test_accuracy']:.2f} %, C {out['C']:g}, "
          f"{out['n_nonzero']} non-zero; sentiment unit {out['sentiment_unit']} "
          f"(sign {out['sentiment_unit_sign']:+d}) alone {out['sentiment_unit_accuracy']:.2f} %, "
          f"zero-shot {out['zero_shot_accuracy']:.2f} % -> {path}")
    return 0


def cmd_reproduce(args) -> int:
    from claims import REGISTRY, SOURCES
    from harness.claims import FAIL
    from harness.report import summary_line
    from harness.repro import make_context
    from harness.runner import Reproduction

    ctx = make_context(profile=args.profile, model_spec=args.model, data_dir=args.data_dir,
                       out_dir=args.out, device=args.device, cache_dir=args.cache_dir,
                       progress=not args.quiet)
    claims = [c for c in REGISTRY if not args.only or any(p in c.id for p in args.only)]
    print(f"profile {ctx.profile}: model {ctx.model_spec or 'none'}, data {ctx.data_root}, "
          f"device {ctx.device}, {len(claims)} claims", flush=True)

    def show(result):
        print(f"  {result.verdict:8s} {result.claim.id}  {result.reason[:110]}", flush=True)

    run = Reproduction(ctx, claims, SOURCES)
    results = run.evaluate_all(on_result=show)
    print(summary_line(results))
    print(f"report: {run.write()}")
    for error in run.errors:
        print(f"error in {error}", file=sys.stderr)
    failed = any(r.verdict == FAIL for r in results)
    # On the fixtures a FAIL means the harness is broken; on a real model it is a finding.
    return 1 if run.errors or (failed and (ctx.fixtures or args.strict)) else 0


def cmd_claims(args) -> int:
    from tabulate import tabulate

    from claims import REGISTRY

    rows = [[f"`{c.id}`", c.kind, c.published, str(c.tolerance or c.threshold),
             "yes" if c.experiment else "not yet"] for c in REGISTRY]
    print(tabulate(rows, headers=["claim", "kind", "published", "tolerance / threshold",
                                  "experiment"], tablefmt="github"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuron-repro", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--device", help="cpu or cuda[:N] (default: cuda when available)")
        p.add_argument("--cache-dir", help="feature cache (default: $NEURON_REPRO_CACHE or "
                       "~/.cache/neuron-repro/features)")

    p = sub.add_parser("features", help="extract mLSTM states of texts to a .npy file")
    p.add_argument("--model", required=True, help="openai:FOLDER or a checkpoint folder")
    p.add_argument("--input", required=True, help=".jsonl (text), .csv (sentence|text) or .txt")
    p.add_argument("--state", default="final_c",
                   help="final_c, final_h, mean_c, min_c, max_c, or a comma-separated list")
    p.add_argument("--out", required=True)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--no-cache", action="store_true")
    common(p)
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("probe", help="run the paper's L1 probe protocol on one dataset")
    p.add_argument("--model", required=True)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--data", help="folder with train.csv, dev.csv, test.csv (label,sentence)")
    group.add_argument("--dataset", help="a registered dataset: sst, mr, cr, subj, mpqa, imdb")
    p.add_argument("--data-dir", help="data root (default: $NEURON_REPRO_DATA or the user cache)")
    p.add_argument("--json", required=True)
    p.add_argument("--figures", help="folder for the weight and unit figures (default: none)")
    common(p)
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("reproduce", help="run every registered claim and write the report")
    p.add_argument("--profile", help="report name (default: fixtures when nothing is found)")
    p.add_argument("--model")
    p.add_argument("--data-dir")
    p.add_argument("--out", help="report folder (default: reports/<profile>)")
    p.add_argument("--only", nargs="*", help="run only claims whose id contains one of these")
    p.add_argument("--strict", action="store_true", help="exit 1 when a claim FAILs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    common(p)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("claims", help="list every registered claim")
    p.set_defaults(func=cmd_claims)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DatasetError, ValueError) as exc:
        print(f"neuron-repro: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
