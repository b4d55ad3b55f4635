"""The model card of a trained mLSTM, written from its ``trainer.json`` and ``config.json``."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from neuron_repro.io import atomic_write
from neuron_repro.models.mlstm import read_checkpoint_config
from neuron_repro.train.lm import TRAINER_FILE, checkpoint_folder, read_trainer_record


def write_model_card(out_dir: Path) -> Path:
    """Write ``<out_dir>.md`` beside the checkpoint folder; return its path."""
    out_dir = Path(out_dir)
    trainer = read_trainer_record(checkpoint_folder(out_dir) / TRAINER_FILE)
    config, _ = read_checkpoint_config(out_dir)
    initial = out_dir / "initial"
    control_sha = read_checkpoint_config(initial)[0]["sha256"] if initial.is_dir() else "-"
    cfg, corpus = trainer["config"], trainer["corpus"]
    curve = trainer["curve"]
    last = next((p for p in reversed(curve) if "held_out_bpb" in p), {})
    epochs = trainer["bytes_seen"] / max(corpus["train_bytes"], 1)
    lines = [
        f"# Model card: `{out_dir.name}`",
        "",
        "A byte-level multiplicative LSTM with OpenAI's parameterisation (see "
        "`neuron_repro/models/mlstm.py`), trained by this project as a byte language model. "
        "Load it "
        f"with `--model {out_dir.as_posix()}`; its untrained control (the same weights before "
        f"the first step) is `--model {(out_dir / 'initial').as_posix()}`.",
        "",
        "| field | value |",
        "|---|---|",
        f"| units / embedding | {config['n_units']} / {config['n_embed']} |",
        f"| weights sha256 | `{config['sha256']}` |",
        f"| untrained control sha256 | `{control_sha}` |",
        f"| corpus | `{corpus['spec']}`: {corpus['n_texts']} texts, "
        f"{corpus['train_bytes']:,} training bytes; held out {corpus['held_out']} "
        f"({corpus['held_out_bytes']:,} bytes) |",
        f"| corpus source sha256 | `{corpus['source_sha256']}` |",
        f"| bytes seen | {trainer['bytes_seen']:,} ({epochs:.2f} epochs), "
        f"{trainer['step']:,} steps |",
        f"| wall time | {trainer['wall_seconds'] / 3600:.2f} h over {len(trainer['sessions'])} "
        "session(s) |",
        f"| held-out bits per byte | {last.get('held_out_bpb', float('nan')):.4f} "
        f"(first {cfg['eval_bytes']:,} held-out bytes) |",
        f"| seed | {cfg['seed']} |",
        f"| optimiser | Adam, lr {cfg['lr']:g}, schedule {cfg['schedule']} "
        f"(horizon {cfg['schedule_bytes']:,} bytes, warm-up {cfg['warmup_bytes']:,}), "
        f"gradient clip {cfg['clip']:g} |",
        f"| batch x BPTT | {cfg['batch']} streams x {cfg['bptt']} bytes, state carried across "
        "windows |",
        f"| forget-gate bias at init | {cfg['forget_bias']:g} |",
        "",
        "## Sessions",
        "",
        tabulate([[i + 1, s["device"], s["processes"], f"{s['bytes']:,}", s["seconds"],
                   f"{s['bytes_per_second']:,.0f}", f"`{s['command']}`"]
                  for i, s in enumerate(trainer["sessions"])],
                 headers=["#", "device", "processes", "bytes", "seconds", "bytes/s", "command"],
                 tablefmt="github"),
        "",
        "## Held-out curve",
        "",
        tabulate([[f"{p['bytes_seen']:,}", f"{p['held_out_bpb']:.4f}",
                   f"{p['train_bpb']:.4f}" if "train_bpb" in p else "-"] for p in curve],
                 headers=["bytes seen", "held-out bpb", "train bpb (since last point)"],
                 tablefmt="github"),
        "",
    ]
    if trainer.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in trainer["notes"]], ""]
    path = out_dir.with_suffix(".md")
    with atomic_write(path, ".md.tmp") as tmp:
        tmp.write_text("\n".join(lines))
    return path
