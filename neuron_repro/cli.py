"""The ``neuron-repro`` command: parses arguments, calls the library, prints."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuron_repro.data.base import DatasetError, resolve_data_root
from neuron_repro.data.texts import read_texts
from neuron_repro.io import (
    atomic_write,
    check_output_dir,
    check_output_file,
    read_json_object,
    save_npy,
    write_json,
)
from neuron_repro.options import JOBS, NON_NEGATIVE, POSITIVE, name, number
from neuron_repro.probes import SOLVERS


def cmd_features(args) -> int:
    from neuron_repro.features import default_cache_dir, extract_states, parse_states
    from neuron_repro.repro import load_model, resolve_device

    states = parse_states(args.state)
    out = check_output_file(args.out, "--out")
    cache = None if args.no_cache else (args.cache_dir or default_cache_dir())
    if cache is not None:
        check_output_dir(cache, "--cache-dir")
    device = resolve_device(args.device)
    texts = read_texts(args.input)
    model = load_model(args.model)
    X = extract_states(model, texts, states, batch_size=args.batch_size, device=device,
                       cache_dir=cache)
    save_npy(out, X.astype(np.float32))
    print(f"wrote {args.out}: {X.shape[0]} texts x {X.shape[1]} columns ({','.join(states)})")
    return 0


def cmd_probe(args) -> int:
    from neuron_repro.data import load_folder
    from neuron_repro.experiments.sentiment_unit import run_dataset_probe
    from neuron_repro.figures import draw
    from neuron_repro.repro import make_context

    path = check_output_file(args.json, "--json")
    if args.figures:
        check_output_dir(args.figures, "--figures")
    ctx = make_context(profile="probe", model_spec=args.model, data_dir=args.data_dir,
                       out_dir=args.figures, device=args.device, cache_dir=args.cache_dir,
                       jobs=args.jobs, solver=args.solver)
    if not args.figures:
        ctx.out_dir = None
    if args.data:
        name = Path(args.data).name
        ctx.memo[("dataset", name)] = load_folder(args.data, name)
    else:
        name = args.dataset
    out = dict(run_dataset_probe(ctx, name))
    out.pop("folds", None)
    specs = out.pop("figures", [])
    out["figures"] = [draw(spec, ctx.out_dir) for spec in specs] if ctx.out_dir else []
    out = {"dataset": name, "model": ctx.model_spec, "model_sha256": ctx.model.sha256, **out}
    write_json(path, out)
    print(probe_summary(name, out) + f" -> {path}")
    for note in out.get("notes", []):
        print(f"  note: {note}")
    return 0


def probe_summary(name: str, out: dict) -> str:
    """One line of what a probe found; a probe that kept no weight says so."""
    from neuron_repro.report import format_value

    head = f"{name}: test accuracy {out['test_accuracy']:.2f} %, C {out['C']:g}, " \
        f"{out['n_nonzero']} non-zero ({out.get('solver', 'liblinear')})"
    if out.get("sentiment_unit") is None:
        return head + "; no sentiment unit (the probe kept no weight)"
    return (head + f"; sentiment unit {out['sentiment_unit']} (sign "
            f"{out['sentiment_unit_sign']:+d}) alone "
            f"{format_value(out['sentiment_unit_accuracy'])} %, zero-shot "
            f"{format_value(out['zero_shot_accuracy'])} %")


def assignments(items) -> dict[str, str]:
    """``--set`` options as ``{"family.option": "value"}`` (a later one wins)."""
    out = {}
    for item in items or []:
        key, eq, value = str(item).partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--set {item}: expected FAMILY.OPTION=VALUE, e.g. ner.seeds=3")
        out[key.strip()] = value.strip()
    return out


def with_config(parser, argv, args):
    """``args`` parsed again with the options of ``args.config`` (TOML) as defaults: options
    on the command line win, and the file's ``[set]`` table comes before the command line's
    ``--set``. An unknown key, or a value of the wrong kind, names the file and the key."""
    import tomllib

    path = Path(args.config)
    try:
        config = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"--config {path}: not a TOML file ({exc})") from None
    sub = args.subcommands[args.command]
    actions = {a.dest: a for a in sub._actions if a.dest not in ("help", "config")}
    defaults, settings = {}, []
    for key, value in config.items():
        if key == "set":
            if not isinstance(value, dict):
                raise ValueError(f"--config {path}: [set] must be a table of "
                                 "FAMILY.OPTION = VALUE")
            settings = [f"{k}={_toml_text(v)}" for k, v in _flat(value).items()]
            continue
        dest = key.replace("-", "_")
        if dest not in actions:
            raise ValueError(f"--config {path}: no option {key!r} for {args.command} (known: "
                             f"{', '.join(sorted(d.replace('_', '-') for d in actions))})")
        action = actions[dest]
        many = action.nargs in ("*", "+")
        if many != isinstance(value, list) or isinstance(value, dict):
            want = "a list" if many else "a single value"
            raise ValueError(f"--config {path}: {key} must be {want}")
        if isinstance(value, list):
            defaults[dest] = [str(v) for v in value]
        elif isinstance(value, bool) or action.nargs == 0:
            if not isinstance(value, bool):
                raise ValueError(f"--config {path}: {key} must be true or false")
            defaults[dest] = value
        else:
            defaults[dest] = str(value)
    sub.set_defaults(**defaults)
    again = parser.parse_args(argv)
    again.set = settings + list(again.set or [])
    return again


def _flat(table: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _toml_text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def cmd_settings(args) -> int:
    from dataclasses import asdict

    from neuron_repro.experiments import FAMILIES

    for family in FAMILIES.values():
        if family.settings is None:
            continue
        print(f"{family.name}:  ({type(family.settings).__name__})")
        for key, value in _flat(asdict(family.settings)).items():
            print(f"  {family.name}.{key} = {value}")
    return 0


def cmd_reproduce(args) -> int:
    from neuron_repro.claims import REGISTRY, SOURCES
    from neuron_repro.folders import staged_folder
    from neuron_repro.report import summary_line
    from neuron_repro.repro import default_control, make_context
    from neuron_repro.results import report_files
    from neuron_repro.runner import Reproduction
    from neuron_repro.verdicts import FAIL, select_claims

    claims = select_claims(REGISTRY, args.only)
    ctx = make_context(profile=args.profile, model_spec=args.model, data_dir=args.data_dir,
                       out_dir=args.out, device=args.device, cache_dir=args.cache_dir,
                       progress=not args.quiet, batch_size=args.batch_size,
                       settings=assignments(args.set), jobs=args.jobs, solver=args.solver,
                       engine_for=args.engine_for or ())
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
    # One writer at a time in a report folder (a merge or another reproduce is refused), and
    # the report is built beside it and swapped in whole: a run stopped at any instant leaves
    # the old report as it was.
    target = ctx.out_dir
    with staged_folder(target, "--out", "merge or reproduce") as staged:
        staged.dropped = report_files(target)  # the old report's files, whatever this one draws
        ctx.out_dir = staged.path
        if control is not None:
            control.out_dir = staged.path / "control"
        results = run.evaluate_all(on_result=show)
        print(summary_line(results))
        run.write()
    print(f"report: {target / 'REPORT.md'}")
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

    from neuron_repro.data.corpus import load_corpus
    from neuron_repro.repro import resolve_device
    from neuron_repro.train.card import write_model_card
    from neuron_repro.train.lm import (
        OPTION_FIELDS,
        LMTrainer,
        TrainConfig,
        command_line,
        option_name,
    )

    device = resolve_device(args.device)
    out = check_output_dir(args.out, "--out")
    given = {field: getattr(args, option_name(field)) for field in OPTION_FIELDS}
    config = None
    if not args.resume:
        settings = {k: v for k, v in given.items() if v is not None}
        settings.setdefault("n_units", 512)
        settings.setdefault("schedule_bytes", args.budget_bytes or 0)
        config = TrainConfig(**settings)
        config.check()  # before the corpus is read
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # started by torchrun
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device.startswith("cuda"):
            device = f"cuda:{local}"
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    corpus = load_corpus(args.corpus, args.data_dir)
    trainer = LMTrainer(out, corpus, config, resume=args.resume, device=device)
    if args.resume:
        trainer.resume_with(given)
    if args.note:
        trainer.state.notes.append(args.note)
    state = trainer.train(args.budget_minutes, args.budget_bytes, command=command_line())
    if trainer.rank == 0:
        card = write_model_card(out)
        point = state.curve[-1]
        print(f"{state.bytes_seen:,} bytes seen; held-out {point['held_out_bpb']:.4f} bits/byte; "
              f"checkpoint {args.out}; card {card}")
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


def cmd_model_card(args) -> int:
    from neuron_repro.train.card import write_model_card
    from neuron_repro.train.lm import TRAINER_FILE, checkpoint_folder, read_trainer_record

    folder = Path(args.model)
    trainer_path = checkpoint_folder(folder) / TRAINER_FILE
    trainer = read_trainer_record(trainer_path)
    if args.note:
        trainer["notes"].append(args.note)
        write_json(trainer_path, trainer, sort_keys=True)
    print(f"wrote {write_model_card(folder)}")
    return 0


def claim_table(reports: Sequence[str] | None) -> str:
    """The registry as a Markdown table; with reports' results.json, their measurements and
    reasons too (each claim's row from the first report that ran it)."""
    from neuron_repro.claims import REGISTRY
    from neuron_repro.report import readme_claim_table

    paths = [Path(r) for r in reports or []]
    return readme_claim_table(REGISTRY, paths, [read_report(p) for p in paths])


def read_report(path: Path) -> dict:
    """A report's ``results.json``, checked to be one."""
    from neuron_repro.results import read_report as read

    try:
        return read(path)
    except DatasetError as exc:
        raise DatasetError(f"--report: {exc}") from exc


def cmd_merge(args) -> int:
    from neuron_repro.claims import REGISTRY, SOURCES
    from neuron_repro.merge import merge_reports

    report, ids = merge_reports(Path(args.into), Path(args.source), args.only, REGISTRY,
                                SOURCES)
    print(f"merged {len(ids)} claims from {args.source}: {', '.join(ids)}")
    print(f"report: {report}")
    return 0


def cmd_fetch(args) -> int:
    from tabulate import tabulate

    from neuron_repro.fetch import describe, fetch, model_folder, select

    if args.list:
        print(tabulate(describe(), headers=["name", "what", "from"], tablefmt="github"))
        print(f"\ndata root: {resolve_data_root(args.data_dir)} (--data-dir, else "
              f"$NEURON_REPRO_DATA); weights: {args.model_dir or model_folder(args.data_dir)} "
              "(--model-dir)")
        return 0
    if not args.names:
        raise DatasetError("fetch: name what to fetch (e.g. `fetch all`, `fetch sst imdb`); "
                           "`fetch --list` lists them")
    for done in fetch(select(args.names), args.data_dir, args.model_dir,
                      progress=not args.quiet):
        how = ("already there, no request made" if done.requested == 0 else
               f"{done.requested} request{'s' * (done.requested > 1)}")
        print(f"{done.name}: {len(done.files)} file{'s' * (len(done.files) > 1)} in "
              f"{done.folder}, verified by {done.verified} ({how})", flush=True)
    return 0


def cmd_claims(args) -> int:
    from neuron_repro.claims import REGISTRY, SOURCES
    from neuron_repro.report import fill_markers, readme_headline
    from neuron_repro.report.docs import claim_registry

    table = claim_table(args.report)
    if not args.readme:
        print(table)
        return 0
    sections = {"claim-table": table, "claim-registry": claim_registry(REGISTRY, SOURCES)}
    if args.report:
        sections["headline"] = readme_headline(Path(args.report[0]),
                                               read_report(Path(args.report[0])))
    for readme in map(Path, args.readme):
        readme = readme.resolve()  # a link is followed, and the file it names is rewritten
        text = readme.read_text()
        found = [n for n in sections if f"<!-- {n}:start -->" in text]
        if not found:
            raise ValueError(f"{readme}: no markers to fill (<!-- NAME:start --> ... "
                             f"<!-- NAME:end --> for NAME in {', '.join(sections)})")
        text = fill_markers(text, sections, readme, required=())
        with atomic_write(readme, ".md.tmp") as tmp:
            tmp.write_text(text)
        print(f"updated {', '.join(found)} in {readme}")
    return 0


def cmd_view(args) -> int:
    from neuron_repro.repro import load_model, resolve_device
    from neuron_repro.viewer import build_viewer, write_page

    out = check_output_file(args.out, "--out")
    device = resolve_device(args.device)
    texts = read_texts(args.input)
    notes, sign = {}, None
    if args.units is not None:
        try:
            units = [int(u) for u in args.units.split(",")]
        except ValueError:
            raise ValueError(f"--units {args.units!r}: expected unit numbers such as "
                             "12,40") from None
    model = load_model(args.model)
    if args.units is None:
        units, sign = _probe_units(args.probe_json, model)
        notes = {units[0]: f"sentiment unit, sign {sign:+d}"}
    predictions = None
    if sign is not None:
        from neuron_repro.features import extract_states

        final = extract_states(model, texts, "final_c", device=device)[:, units[0]]
        predictions = [int(sign * v > 0) for v in final]
    page = build_viewer(model, texts, units, title=f"{Path(args.input).name}: {args.model}",
                        predictions=predictions, unit_notes=notes, device=device)
    write_page(out, page)
    print(f"wrote {args.out}: {len(texts)} texts, units {','.join(map(str, units))}")
    return 0


def _probe_units(path, model) -> tuple[list[int], int]:
    """The units a probe JSON names for ``model`` (its sentiment unit first) and the unit's
    sign, checked: written for this model's weights, a sign of +1 or -1, units in range."""
    from neuron_repro.viewer import VIEWER_UNITS

    probe = read_json_object(path, {"sentiment_unit": (int, type(None)),
                                    "sentiment_unit_sign": int, "model_sha256": str},
                             what="probe JSON (neuron-repro probe --json)")
    if probe["model_sha256"] != model.sha256:
        raise ValueError(f"{path}: a probe of the model {probe['model_sha256'][:16]}…, not of "
                         f"--model (sha256 {model.sha256[:16]}…); probe this model first")
    if probe["sentiment_unit"] is None:
        raise ValueError(f"{path}: the probe kept no unit; pass --units")
    if probe["sentiment_unit_sign"] not in (-1, 1):
        raise ValueError(f"{path}: sentiment_unit_sign is {probe['sentiment_unit_sign']}, not "
                         "+1 or -1")
    top = probe.get("top_units", [])
    if not isinstance(top, list) or not all(isinstance(u, int) and not isinstance(u, bool)
                                            for u in top):
        raise ValueError(f"{path}: 'top_units' is not a list of units")
    units = [probe["sentiment_unit"], *[u for u in top if u != probe["sentiment_unit"]]]
    outside = [u for u in units if not 0 <= u < model.n_units]
    if outside:
        raise ValueError(f"{path}: units {outside} are outside the model's {model.n_units}")
    return units[:VIEWER_UNITS], probe["sentiment_unit_sign"]


def cmd_generate(args) -> int:
    from neuron_repro.generate import Clamp, as_text, generate
    from neuron_repro.repro import load_model, resolve_device

    clamps = [Clamp.parse(c) for c in args.clamp or ()]
    out = check_output_file(args.out, "--out") if args.out else None
    device = resolve_device(args.device)
    model = load_model(args.model)
    samples = generate(model, args.prime, clamps=clamps, clamp_state=args.clamp_state,
                       temperature=args.temperature, seed=args.seed, n=args.n,
                       n_bytes=args.bytes, stop_byte=ord("\n") if args.stop_at_newline
                       else None, device=device)
    texts = [as_text(s) for s in samples]
    if out is not None:
        write_json(out, {"model": args.model, "prime": args.prime,
                         "clamps": [str(c) for c in clamps], "clamp_state": args.clamp_state,
                         "temperature": args.temperature, "seed": args.seed,
                         "bytes": args.bytes, "stop_at_newline": args.stop_at_newline,
                         "samples": texts})
    clamp_text = ", ".join(map(str, clamps)) or "none"
    for i, text in enumerate(texts):
        print(f"--- sample {i + 1} of {len(texts)} (clamp {clamp_text} on "
              f"{args.clamp_state}, temperature {args.temperature:g}, seed {args.seed})")
        print(args.prime + text)
    if out is not None:
        print(f"wrote {args.out}: {len(texts)} samples", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuron-repro", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    parser.set_defaults(subcommands=sub.choices)

    def common(p):
        p.add_argument("--device", help="cpu or cuda[:N] (default: cuda when available)")
        p.add_argument("--cache-dir", help="feature cache (default: $NEURON_REPRO_CACHE or "
                       "~/.cache/neuron-repro/features)")

    def solver(p):
        p.add_argument("--solver", choices=SOLVERS, default="liblinear", help="the probes' "
                       "solver: liblinear (the paper's, default) or engine (the same objective "
                       "for a whole C grid at once, batched, to a tighter tolerance; CPU or "
                       "CUDA). Every number says which made it")

    def jobs(p):
        p.add_argument("--jobs", type=JOBS, default=1, help="processes for liblinear fits made "
                       "at once: the folds of a cross-validation, else the C grid of a probe; "
                       "on reproduce also the NCRF++ baseline taggers trained at once, one "
                       "thread each (-1: one per core; default 1)")

    p = sub.add_parser("features", help="extract mLSTM states of texts to a .npy file")
    p.add_argument("--model", required=True, help="openai:FOLDER or a checkpoint folder")
    p.add_argument("--input", required=True, help=".jsonl (text), .csv (sentence|text) or .txt")
    p.add_argument("--state", default="final_c",
                   help="final_c, final_h, mean_c, min_c, max_c, or a comma-separated list")
    p.add_argument("--out", required=True)
    p.add_argument("--batch-size", type=POSITIVE, default=128, help="texts run together "
                   "(at least 1; default 128)")
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
    solver(p)
    common(p)
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("reproduce", help="run every registered claim and write the report")
    p.add_argument("--profile", type=name, help="report name, not a path (default: fixtures "
                   "when nothing is found, else local)")
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
    p.add_argument("--batch-size", type=POSITIVE, default=128,
                   help="texts extracted together (larger suits small models)")
    jobs(p)
    solver(p)
    p.add_argument("--engine-for", nargs="*", metavar="DATASET", help="solve the probes of "
                   "these datasets (e.g. imdb subj mpqa) with the engine, the others with "
                   "--solver; the claims that read them say so")
    common(p)
    p.add_argument("--set", action="append", default=[], metavar="FAMILY.OPTION=VALUE",
                   help="an option of an experiment family, e.g. ner.seeds=3, "
                   "ner.baseline_epochs=100, ner.baseline_minutes=8, ner.glove=FILE, "
                   "lopes.config.epochs=5 (repeat for more; `neuron-repro settings` lists them "
                   "with their defaults). Fewer epochs, seeds or samples than a claim's "
                   "protocol make its row NOT RUN")
    p.add_argument("--config", metavar="RUN.toml", help="take the options from this TOML file "
                   "(keys as the options without their dashes, e.g. profile, data-dir, "
                   "control-only = [...], and a [set] table such as ner.baseline_epochs = 100); "
                   "options given on the command line win")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("settings", help="list every experiment family's options and their "
                       "defaults (set them with reproduce --set FAMILY.OPTION=VALUE)")
    p.set_defaults(func=cmd_settings)

    p = sub.add_parser("train-lm", help="train (or resume) a byte-level mLSTM language model")
    p.add_argument("--corpus", required=True,
                   help="imdb-lm (IMDB train + unsup), a folder of .txt files, or a .jsonl file")
    # Options that decide the numbers have no parse-time default: a new run takes
    # TrainConfig's, and --resume refuses any that differs from the run's own.
    p.add_argument("--units", type=POSITIVE, help="hidden units (default 512)")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget-minutes", type=number(0, low_open=True),
                        help="wall time of this session")
    budget.add_argument("--budget-bytes", type=POSITIVE, help="bytes to train on in this "
                        "session")
    p.add_argument("--out", required=True, help="checkpoint folder (the card goes to <out>.md)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--data-dir")
    p.add_argument("--batch", type=POSITIVE, help="streams, over all processes (default 128)")
    p.add_argument("--bptt", type=POSITIVE, help="bytes per window (default 128)")
    p.add_argument("--lr", type=number(0, low_open=True), help="Adam's learning rate "
                   "(default 1e-3)")
    p.add_argument("--schedule", choices=["constant", "linear"], help="default linear")
    p.add_argument("--schedule-bytes", type=POSITIVE,
                   help="where the linear schedule reaches zero (default: --budget-bytes); "
                   "with --resume, extends a run's horizon")
    p.add_argument("--warmup-bytes", type=NON_NEGATIVE)
    p.add_argument("--clip", type=number(0, low_open=True), help="gradient norm (default 1)")
    p.add_argument("--forget-bias", type=number())
    p.add_argument("--seed", type=NON_NEGATIVE)
    p.add_argument("--eval-every-minutes", type=number(0, low_open=True))
    p.add_argument("--checkpoint-every-minutes", type=number(0))
    p.add_argument("--note", help="a line for the model card (what was tried, and why)")
    p.add_argument("--device")
    p.set_defaults(func=cmd_train_lm)

    p = sub.add_parser("model-card", help="rewrite the card of a train-lm checkpoint")
    p.add_argument("model", help="checkpoint folder; the card goes to <folder>.md")
    p.add_argument("--note", help="append a line to the card's notes first")
    p.set_defaults(func=cmd_model_card)

    p = sub.add_parser("fetch", help="download and verify the released weights and the public "
                       "datasets (resumable; what is there and verified is not fetched again)")
    p.add_argument("names", nargs="*", help="openai-weights, sst, mr, cr, subj, mpqa, imdb, or "
                   "all")
    p.add_argument("--list", action="store_true", help="say what each name fetches, from where")
    p.add_argument("--data-dir", help="data root (default: $NEURON_REPRO_DATA, else "
                   "~/.cache/neuron-repro/data)")
    p.add_argument("--model-dir", help="folder for the released weights (default: "
                   "<data root>/models/openai, where --model openai reads them)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("claims", help="list every registered claim (with a report's results)")
    p.add_argument("--report", nargs="+", help="results.json files whose measurements and "
                   "verdicts to show (a claim's row from the first that ran it)")
    p.add_argument("--readme", nargs="+", metavar="FILE",
                   help="instead of printing the table, fill these Markdown files between their "
                   "markers: claim-table (this table), headline (the first report's headline "
                   "table) and claim-registry (every claim's statement, rule, rationale and "
                   "history); each file needs at least one pair, e.g. README.md docs/claims.md")
    p.set_defaults(func=cmd_claims)

    p = sub.add_parser("merge", help="bring the rows of claims rerun on their own into a full "
                       "report (the same model, control and data), with their figures; the "
                       "report's provenance records the run that made them")
    p.add_argument("source", help="the report folder (or its results.json) the rows come from")
    p.add_argument("--into", required=True, help="the report folder whose rows they replace")
    p.add_argument("--only", nargs="+", required=True, help="claims whose id contains one of "
                   "these")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("view", help="write one self-contained HTML page of texts coloured "
                       "byte by byte by chosen units")
    p.add_argument("--model", required=True, help="openai:FOLDER or a checkpoint folder")
    p.add_argument("--input", required=True, help=".jsonl (text), .csv (sentence|text) or .txt")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--units", help="comma-separated units, in the order offered")
    group.add_argument("--probe-json", help="a `probe --json` file: its sentiment unit, then "
                       "the next largest L1 units; the prediction is the unit's zero-shot sign")
    p.add_argument("--out", required=True, help="the .html file to write")
    common(p)
    p.set_defaults(func=cmd_view)

    p = sub.add_parser("generate", help="sample text from the model's own next-byte head, "
                       "with chosen units held fixed")
    p.add_argument("--model", required=True, help="openai:FOLDER or a checkpoint folder")
    p.add_argument("--prime", default="", help="text the samples continue (default: none, "
                   "the start of a text)")
    p.add_argument("--clamp", action="append", metavar="UNIT=VALUE", help="hold UNIT at "
                   "VALUE after every step (repeat for several units)")
    p.add_argument("--clamp-state", choices=("c", "h", "both"), default="c", help="what the "
                   "clamp overwrites: the cell state (h then follows from it; default), the "
                   "hidden state, or both")
    p.add_argument("--temperature", type=number(1e-3, 1e3), default=1.0,
                   help="softmax temperature, 0.001 to 1000 (default 1; at 0.001 sampling is "
                   "all but greedy, and a smaller one would overflow)")
    p.add_argument("--seed", type=NON_NEGATIVE, default=0)
    p.add_argument("--n", type=POSITIVE, default=1, help="samples (default 1)")
    p.add_argument("--bytes", type=POSITIVE, default=200, help="bytes per sample "
                   "(default 200)")
    p.add_argument("--stop-at-newline", action="store_true", help="end a sample where the "
                   "model starts its next text (a newline)")
    p.add_argument("--out", help="also write the samples and settings to this .json file")
    common(p)
    p.set_defaults(func=cmd_generate)

    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from neuron_repro.train import TrainingDiverged

    try:
        if getattr(args, "config", None):
            args = with_config(parser, argv, args)
        return args.func(args)
    except (DatasetError, ValueError, TrainingDiverged) as exc:
        print(f"neuron-repro: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or folder the system refused: say which
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"neuron-repro: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neuron-repro: interrupted; finished work is kept in the caches and checkpoints",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
