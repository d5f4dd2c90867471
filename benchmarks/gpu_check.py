"""Every CUDA path of the project in one short run on a lent GPU, and one summary table at the end.

Checks, each in its own process with its own time budget (one that fails, hangs or poisons its CUDA
context cannot stop the others; its finished rows are kept):

  power_limit  a ``Setting`` with ``power_limit_watts`` a bit under the GPU's limit, run through
               ``deployment.apply.deployed``; NVML read inside (the limit held) and after (restored)
  measurement  the measurement protocol (``cost.probe.measure_cost``) on every family's S model, short
               windows, through NVML and through pyJoules side by side: J per second of audio from each
  sweep        the deployment sweep of HiFi-GAN S (``deployment.sweep.measure_sweep``): fp32/bf16/fp16 x
               clips per call auto x eager/compiled/cuda_graphs, each point's ratio to the paper's setting
  training     ``training.batch_size: auto`` with bf16 and with fp16 training of HiFi-GAN S and DiffWave S
               through the workflow's own job (``training.job.run_training_job``) on a synthetic corpus
               made by the project's corpus and feature code: steps/s and the batch size chosen

The whole run is budgeted to finish in about 7 minutes (the shell wrapper's ``timeout`` is the last
resort). Without a CUDA device it exits 2 at once. ``--cpu-dry-run`` runs every check on the CPU with
tiny budgets and tiny inputs, NVML replaced by the ``auto`` meter, CUDA-only parts (CUDA graphs, a real
power limit, the CUDA batch-size search) reported skipped with the reason: it proves the code paths.

    bash benchmarks/gpu_check.sh                      # on the GPU machine, from the repository root
    bash benchmarks/gpu_check.sh --cpu-dry-run        # here: the same code paths on the CPU
    python benchmarks/gpu_check.py --only sweep       # one check
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

CHECKS = ("power_limit", "measurement", "sweep", "training")
# Seconds per check's process (CUDA start-up included); their sum is the run's longest, about 7 minutes.
BUDGETS = {"power_limit": 30, "measurement": 100, "sweep": 130, "training": 170}
DRY_BUDGETS = {"power_limit": 60, "measurement": 120, "sweep": 120, "training": 120}
NO_CUDA = "no CUDA device: nothing to check"
FAMILIES = ("melgan", "hifigan", "waveglow", "waveflow", "wavegrad", "diffwave", "vocos", "bigvgan")
TRAINED = ("hifigan", "diffwave")
# --tiny (the test's dry run): small networks, the tests' own overrides (tests/data/tiny.yaml).
TINY = {
    "melgan": {"ngf": 4, "n_residual_layers": 1, "disc_ndf": 4},
    "hifigan": {"upsample_initial_channel": 16},
    "waveglow": {"n_channels": 8, "n_layers": 2, "n_flows": 4, "n_early_every": 2, "upsample_kernel_size": 512},
    "waveflow": {"residual_channels": 8, "n_flows": 2, "n_layers": 2},
    "wavegrad": {"inference_steps": 3},
    "diffwave": {"residual_channels": 4, "residual_layers": 2, "dilation_cycle_length": 2},
    "vocos": {"dim": 16, "intermediate_dim": 24, "num_layers": 2},
    "bigvgan": {"upsample_initial_channel": 32, "cqtd_filters": 8, "cqtd_max_filters": 16},
}


def budget_of(check: str, dry: bool, scale: float = 1.0) -> float:
    """Seconds a check's process may run: its GPU budget, or its dry-run budget on the CPU."""
    return (DRY_BUDGETS if dry else BUDGETS)[check] * scale


# ============================================================================ the checks (child process)
class Check:
    """One check's process: rows appended to a JSON-lines file as they finish, a deadline to respect."""

    def __init__(self, args: argparse.Namespace):
        import torch

        self.args, self.dry = args, args.cpu_dry_run
        self.device = torch.device("cpu" if self.dry else "cuda")
        self.deadline = args.deadline or time.time() + budget_of(args.check, self.dry, args.budget_scale)
        self.results = Path(args.results)

    def left(self) -> float:
        return self.deadline - time.time()

    def row(self, check: str, status: str, figure: str, seconds: float) -> None:
        line = {"check": check, "status": status, "figure": figure, "seconds": round(seconds, 1)}
        with self.results.open("a") as handle:
            handle.write(json.dumps(line) + "\n")
        print(f"[gpu_check] {check}: {status} - {figure} ({seconds:.1f} s)", flush=True)

    @contextmanager
    def part(self, name: str, needs: float = 0.0):
        """One row: ok with the figure the block stores in ``result["figure"]``; skipped with the reason
        (``Skip``, a setting this machine cannot run, a meter it cannot read, too little budget left);
        FAILED with the traceback printed. Never raises, so the next part runs."""
        from vocoder_energy.cost.meters import MeterUnavailable
        from vocoder_energy.deployment.power_limit import SettingUnavailable

        result = {"figure": "", "status": "ok"}
        start = time.perf_counter()
        if self.left() < needs:
            self.row(name, "skipped", f"budget spent ({self.left():.0f} s left, needs ~{needs:.0f} s)", 0.0)
            yield None
            return
        try:
            yield result
        except (Skip, SettingUnavailable, MeterUnavailable) as err:
            result.update(status="skipped", figure=str(err))
        except Exception as err:
            traceback.print_exc()
            first_line = (str(err).splitlines() or [""])[0][:160]
            result.update(status="FAILED", figure=f"{type(err).__name__}: {first_line}")
        self.row(name, result["status"], result["figure"], time.perf_counter() - start)
        if self.device.type == "cuda":
            import torch

            torch.cuda.empty_cache()

    def model(self, family: str):
        import torch

        from vocoder_energy.models import build_vocoder

        torch.manual_seed(0)
        return build_vocoder(family, "S", **(TINY[family] if self.args.tiny else {}))

    def probe(self, meter: str):
        from vocoder_energy.cost.probe import ProbeSettings

        if self.dry:  # 2 clips of 0.1 s, two windows of a call each: the code path, not a figure
            return ProbeSettings(
                clips=2, seconds=0.1, flops_frames=4, windows=2, min_window_seconds=0.0, warmup=1, meter=meter
            )
        return ProbeSettings(clips=2, seconds=2.0, flops_frames=16, windows=2, min_window_seconds=0.5, meter=meter)


class Skip(Exception):
    """A part this machine cannot run; the message says why."""


# ---------------------------------------------------------------------------- (d) power limit
def check_power_limit(check: Check) -> None:
    import torch

    from vocoder_energy.cost.probe import probe_mel
    from vocoder_energy.deployment.apply import deployed
    from vocoder_energy.deployment.settings import Setting

    with check.part("power limit (deployed, NVML)") as result:
        if result is None:
            return
        device = check.device
        model = check.model("hifigan").to(device)
        mel = probe_mel(model, 2, 16, device)
        nvml, handle = nvml_of(device)
        before = limit_watts(nvml, handle)
        low, high = (w / 1000 for w in nvml.nvmlDeviceGetPowerManagementLimitConstraints(handle))
        wanted = max(low, round(before * 0.9))  # a bit under the limit as found, never under the minimum
        setting = Setting(power_limit_watts=float(wanted))
        with deployed(model, setting, device) as run:
            held = limit_watts(nvml, handle)
            run(mel)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        after = limit_watts(nvml, handle)
        if held != wanted or after != before:
            raise RuntimeError(f"limit {before:g} W, asked {wanted:g} W, held {held:g} W, after {after:g} W")
        result["figure"] = f"{before:g} W -> {held:g} W inside -> {after:g} W after (allowed {low:g}-{high:g} W)"


def nvml_of(device):
    """pynvml and the device's handle; ``Skip`` with the reason where NVML cannot be read (a CPU included)."""
    from vocoder_energy.cost.meters.nvml import nvml_handle

    if device.type != "cuda":
        raise Skip(f"a power limit is set on a GPU through NVML; this dry run is on {device}")
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml, nvml_handle(pynvml, device.index or 0)
    except Exception as err:
        raise Skip(f"NVML is not readable ({type(err).__name__}: {err})") from err


def limit_watts(nvml, handle) -> float:
    return nvml.nvmlDeviceGetPowerManagementLimit(handle) / 1000


# ---------------------------------------------------------------------------- (b) measurement protocol
def check_measurement(check: Check) -> None:
    from vocoder_energy.cost.flops import count_generate_flops
    from vocoder_energy.cost.probe import measure_cost, probe_mel

    # NVML is the GPU's meter; a CPU has none, so the dry run reads what ``auto`` finds (RAPL or estimated).
    meters = (("auto" if check.dry else "nvml"), "pyjoules")
    per_family = check.left() / len(FAMILIES)
    for family in FAMILIES:
        model, flops = None, None
        for meter in meters:
            label = f"measure {family} S {'nvml' if meter == 'nvml' else meter}"
            if check.dry and meter == "auto":
                label += " (dry run: auto, not nvml)"
            with check.part(label, needs=min(8.0, per_family / 2)) as result:
                if result is None:
                    continue
                probe = check.probe(meter)
                if model is None:
                    model = check.model(family).to(check.device)
                    model.prepare_inference()
                    flops = count_generate_flops(model, probe_mel(model, 1, probe.flops_frames, check.device))
                cost = measure_cost(model, probe, check.device, flops=flops)
                energy = cost["energy"]
                result["figure"] = (
                    f"{energy['joules_per_audio_second']:.4g} J per s of audio ({energy['method']}, "
                    f"{energy['backend']}), RTF {cost['time']['real_time_factor']:.3g}, "
                    f"stable: {energy['stability']['stable']}"
                )
        del model


# ---------------------------------------------------------------------------- (c) deployment sweep
def check_sweep(check: Check) -> None:
    from vocoder_energy.deployment.settings import PAPER, sweep
    from vocoder_energy.deployment.sweep import measure_sweep

    probe = check.probe("auto" if check.dry else "nvml")
    compile_modes = ["eager"] if check.args.no_compile else ["eager", "compiled", "cuda_graphs"]
    settings = sweep(
        {"precision": ["fp32", "bf16", "fp16"], "clips_per_call": ["auto"], "compile": compile_modes}, probe.clips
    )
    # Eager points first (one sweep with the paper's baseline), then the compiled ones, all clips per call
    # before one clip per call, each its own sweep: a budget spent on compiling still reports the others.
    eager = [s for s in settings if s.compile == "eager"]
    compiled = sorted((s for s in settings if s.compile != "eager"), key=lambda s: s.clips_per_call is not None)
    model = check.model("hifigan")
    baseline = None
    groups = [eager] + [[s] for s in compiled]
    for index, group in enumerate(groups):
        needs = 0.0 if index == 0 else (25.0 if not check.dry else 10.0)
        with check.part(
            f"sweep hifigan S {group[0].name if index else f'eager ({len(group)} settings)'}", needs
        ) as result:
            if result is None:
                continue
            points = measure_sweep(model, group, probe, check.device)["points"]
            shown = []
            for point in points:
                name = point["setting"]["name"]
                if point["status"] != "measured":
                    shown.append(f"{name} skipped ({point['reason']})")
                    continue
                joules = point["cost"]["energy"]["joules_per_audio_second"]
                if name == PAPER.name:
                    baseline = joules
                ratio = f" x{joules / baseline:.2f}" if baseline else ""
                shown.append(f"{name} {joules:.3g} J/s{ratio}")
            if all(point["status"] != "measured" for point in points):
                result["status"] = "skipped"
            result["figure"] = "; ".join(shown)


# ---------------------------------------------------------------------------- (a) training, batch size auto
def check_training(check: Check) -> None:
    from vocoder_energy.data.corpus import make_synthetic_corpus
    from vocoder_energy.data.features import FeatureSettings, prepare_features
    from vocoder_energy.training.job import run_training_job
    from vocoder_energy.training.run import TrainingSettings

    work = Path(tempfile.mkdtemp(prefix="gpu_check_training_"))
    features = FeatureSettings(segment_samples=2048 if check.dry else 16384)
    with check.part("training corpus (synthetic + features)") as result:
        clips = check.args.corpus_clips
        seconds = features.segment_samples / features.sample_rate + 0.1  # every clip at least a segment
        corpus = make_synthetic_corpus(
            work / "corpus", clips=clips, seed=0, sample_rate=16000, min_seconds=seconds, max_seconds=seconds + 0.4
        )
        manifest = prepare_features(corpus, work / "features", features)
        counts = manifest["clips"]
        result["figure"] = f"{counts['train']} training clips (the batch search's cap), {counts['test']} test"
    train_npz = work / "features" / "train.npz"
    if not train_npz.exists():
        return
    runs = [(family, precision) for family in check.args.train_families for precision in ("bf16", "fp16")]
    for index, (family, precision) in enumerate(runs):
        # What is left, shared by the runs still to go, less their start-up (model, batch search, save).
        seconds = check.args.train_seconds or max(5.0, check.left() / (len(runs) - index) - 12.0)
        with check.part(f"train {family} S {precision}, batch auto", needs=15.0 if not check.dry else 3.0) as result:
            if result is None:
                continue
            settings = TrainingSettings(
                batch_size="auto",
                auto_batch_fallback=1,  # what auto means on the CPU: the dry run's smallest
                max_seconds=seconds,
                max_steps=1 if check.dry else None,
                precision=precision,
                checkpoint_every_seconds=3600.0,
                validation_every_seconds=None,
            )
            out = work / f"{family}_{precision}"
            summary = run_training_job(
                family,
                "S",
                TINY[family] if check.args.tiny else {},
                settings,
                train_features=train_npz,
                generator_out=out / "generator.pt",
                summary_out=out / "summary.json",
                losses_out=out / "losses.jsonl",
                checkpoint_root=out / "runs",
                device=check.device,
            )
            rate = summary["steps"] / summary["train_seconds"] if summary["train_seconds"] else float("nan")
            how = "CUDA search" if check.device.type == "cuda" else "no CUDA: auto_batch_fallback"
            losses = summary["final_losses"]
            finite = all(value == value and abs(value) != float("inf") for value in losses.values())
            if not finite:
                result["status"] = "FAILED"
            scale = f", loss scale {summary['grad_scale']:g}" if summary["grad_scale"] is not None else ""
            result["figure"] = (
                f"{rate:.3g} steps/s over {summary['steps']} steps ({summary['train_seconds']:.0f} s), "
                f"batch {summary['batch_size']} ({how}), losses finite: {finite}{scale}, "
                f"energy {summary['energy']['joules']:.3g} J ({summary['energy']['method']})"
            )


RUNNERS = {
    "power_limit": check_power_limit,
    "measurement": check_measurement,
    "sweep": check_sweep,
    "training": check_training,
}


# ============================================================================ the orchestrator
def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def run_check(name: str, budget: float, results: Path, passthrough: list[str]) -> tuple[int | None, float]:
    """The check in its own process group, killed at its budget; returns its exit code (None: killed)."""
    start = time.perf_counter()
    command = [sys.executable, __file__, "--check", name, "--results", str(results)]
    command += ["--deadline", str(time.time() + budget - 5), *passthrough]
    process = subprocess.Popen(command, start_new_session=True)
    try:
        code = process.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        code = None
    return code, time.perf_counter() - start


def table(rows: list[dict]) -> str:
    lines = ["| check | status | key figure | seconds |", "|---|---|---|---|"]
    for row in rows:
        figure = row["figure"].replace("|", "/")
        lines.append(f"| {row['check']} | {row['status']} | {figure} | {row['seconds']:.1f} |")
    return "\n".join(lines)


def orchestrate(args: argparse.Namespace, passthrough: list[str]) -> int:
    if not args.cpu_dry_run and not cuda_available():
        print(NO_CUDA, flush=True)
        return 2
    started = time.perf_counter()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        for name in args.only or CHECKS:
            results = Path(tmp) / f"{name}.jsonl"
            results.touch()
            budget = budget_of(name, args.cpu_dry_run, args.budget_scale)
            print(f"\n[gpu_check] ===== {name} (budget {budget:.0f} s) =====", flush=True)
            code, seconds = run_check(name, budget, results, passthrough)
            found = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
            rows += found
            if code is None:
                rows.append({"check": name, "status": "FAILED", "figure": f"killed at its budget of {budget:.0f} s",
                             "seconds": seconds})  # fmt: skip
            elif code != 0:
                rows.append({"check": name, "status": "FAILED", "figure": f"its process exited {code}",
                             "seconds": seconds})  # fmt: skip
            elif not found:
                rows.append({"check": name, "status": "FAILED", "figure": "no result", "seconds": seconds})
    print(f"\n## GPU check summary ({'CPU dry run' if args.cpu_dry_run else 'CUDA'}, ", end="")
    print(f"{time.perf_counter() - started:.0f} s in all)\n")
    print(table(rows), flush=True)
    return 1 if any(row["status"] == "FAILED" for row in rows) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-dry-run", action="store_true", help="every check on the CPU with tiny budgets")
    parser.add_argument("--tiny", action="store_true", help="small networks (the tests' overrides), not S as built")
    parser.add_argument("--only", nargs="+", choices=CHECKS, help="run these checks only")
    parser.add_argument("--no-compile", action="store_true", help="sweep: eager settings only")
    parser.add_argument("--budget-scale", type=float, default=1.0, help="multiply every check's budget")
    parser.add_argument("--corpus-clips", type=int, help="training corpus clips (default 160; dry run 10)")
    parser.add_argument("--train-seconds", type=float, help="max_seconds per training run (default: the budget)")
    parser.add_argument("--train-families", nargs="+", default=list(TRAINED), choices=FAMILIES, help="trained")
    parser.add_argument("--check", choices=CHECKS, help=argparse.SUPPRESS)  # a check's own process
    parser.add_argument("--results", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.corpus_clips is None:
        args.corpus_clips = 10 if args.cpu_dry_run else 160
    if args.check:
        RUNNERS[args.check](Check(args))
        return 0
    passthrough = [
        *(["--cpu-dry-run"] if args.cpu_dry_run else []),
        *(["--tiny"] if args.tiny else []),
        *(["--no-compile"] if args.no_compile else []),
        *("--corpus-clips", str(args.corpus_clips)),
        *(["--train-seconds", str(args.train_seconds)] if args.train_seconds else []),
        *("--train-families", *args.train_families),
    ]
    return orchestrate(args, passthrough)


if __name__ == "__main__":
    sys.exit(main())
