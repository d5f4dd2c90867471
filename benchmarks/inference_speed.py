"""Inference speed per family and size on one CPU thread: seconds per second of audio, GFLOP/s and minor
page faults per ``generate()`` call, so that an overhead (a tensor kept alive, a fresh allocation per
step) shows up as a number.

FLOPs come from a meta-device copy of the same model (shapes only, no arithmetic); page faults from
``resource.getrusage`` (minor faults: fresh memory the allocator had to map, the cost of short-lived
large tensors). ``--baseline`` also times the previous inference path on the same weights and mel,
interleaved with the current one, and prints the ratio: for HiFi-GAN the previous residual blocks
(ResBlock1 keeping its first convolution's output alive, out-of-place activations and adds, fusion by
``sum()`` of a generator; the same audio), for WaveFlow the previous network's cached reverse (all H
rows predicted, row 0 from a zero row, separate residual and skip 1x1 convolutions: the same work as
before; the audio is the same only while the flows are untrained identities).

``--baseline`` also prints a deployment-settings table: per family (size S unless ``--sizes``), the
seconds per second of audio of today's default path (``deployment.settings.PAPER``: fp32, all ``--clips``
clips in one call, eager, the process's threads) and of candidate settings run through
``deployment.apply.deployed`` (by default bf16, compiled, bf16 + compiled, 1 clip per call, 1 thread;
``--settings`` picks others by name, e.g. ``fp16`` or ``bf16-compiled-t1``), each candidate timed
interleaved with the default on a twin of the model (same weights) in this process, alternating which
goes first, the median of each. A candidate whose warm-up call takes over 4x the default's is timed by
that call alone: it cannot win (fp16 on a CPU, 50-140x slower). A setting this machine cannot run, one
that fails to compile or one whose audio is not finite is reported skipped with the reason. Compiling
takes 1-20 s per family on a small CPU (``--no-compile`` leaves compiled candidates out). The load
average is printed: other processes on a small machine slow a multi-threaded default far more than a
one-thread candidate.

    python benchmarks/inference_speed.py                          # all families, S/M/L, 16 frames
    python benchmarks/inference_speed.py --families hifigan --sizes S M --frames 64 --repeats 7 --baseline
    python benchmarks/inference_speed.py --baseline --deployment-only --clips 2 --frames 64 --repeats 5
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import resource
import statistics
import time
from contextlib import ExitStack, contextmanager

import torch
import torch.nn.functional as F

from vocoder_energy.cost.flops import count_generate_flops
from vocoder_energy.deployment.apply import deployed
from vocoder_energy.deployment.power_limit import SettingUnavailable
from vocoder_energy.deployment.settings import COMPILE_MODES, PAPER, PRECISIONS, Setting
from vocoder_energy.models import REGISTRY, SIZES, build_vocoder
from vocoder_energy.models.hifigan import LRELU_SLOPE, Generator, ResBlock1, ResBlock2
from vocoder_energy.models.waveflow import Flow


def timed_call(model, mel) -> tuple[float, int]:
    """Seconds and minor page faults of one generate() call."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    model.generate(mel, seed=0)
    seconds = time.perf_counter() - start
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


# ----------------------------------------------------------------- HiFi-GAN's previous path (baseline only)
def _resblock1_before(self, x):
    for conv1, conv2 in zip(self.convs1, self.convs2):
        xt = conv1(F.leaky_relu(x, LRELU_SLOPE))
        x = x + conv2(F.leaky_relu(xt, LRELU_SLOPE))
    return x


def _resblock2_before(self, x):
    for conv in self.convs:
        x = x + conv(F.leaky_relu(x, LRELU_SLOPE))
    return x


def _fuse_before(self, x, blocks):
    return sum(block(x) for block in blocks) / len(blocks)


@contextmanager
def hifigan_before():
    """Swap the previous ResBlock1.forward and MRF fusion in for the duration of the block."""
    saved = ResBlock1.forward, ResBlock2.forward, Generator.fuse
    ResBlock1.forward, ResBlock2.forward, Generator.fuse = _resblock1_before, _resblock2_before, _fuse_before
    try:
        yield
    finally:
        ResBlock1.forward, ResBlock2.forward, Generator.fuse = saved


def _waveflow_inverse_before(self, z, cond):
    """The previous cached inverse: H rows per flow (row 0 from a zero row), residual and skip as two
    1x1 convolutions (the halves of today's fused weights), the residual sum scaled by sqrt(0.5)."""
    batch, _, height, width = z.shape
    conds = self.project_condition(cond)
    queues = [z.new_zeros(batch, self.channels, layer.context, width) for layer in self.layers]
    prev = z.new_zeros(batch, 1, 1, width)
    rows = []
    for i in range(height):
        h = self.front(prev)
        skip = 0
        for k, layer in enumerate(self.layers):
            window = torch.cat([queues[k], h], dim=2)
            queues[k] = window[:, :, 1:]
            filt, gate = (layer.conv(window) + conds[k][:, :, i : i + 1]).chunk(2, dim=1)
            out = torch.tanh(filt) * torch.sigmoid(gate)
            (res_w, skip_w), (res_b, skip_b) = layer.res_skip.weight.chunk(2), layer.res_skip.bias.chunk(2)
            h = (window[:, :, -1:] + F.conv2d(out, res_w, res_b)) * math.sqrt(0.5)
            skip = skip + F.conv2d(out, skip_w, skip_b)
        log_s, t = self.proj(skip).chunk(2, dim=1)
        prev = (z[:, :, i : i + 1] - t) * torch.exp(-log_s)
        rows.append(prev)
    return torch.cat(rows, dim=2)


@contextmanager
def waveflow_before():
    saved = Flow.inverse_cached
    Flow.inverse_cached = _waveflow_inverse_before
    try:
        yield
    finally:
        Flow.inverse_cached = saved


BASELINES = {"hifigan": hifigan_before, "waveflow": waveflow_before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=list(REGISTRY), choices=list(REGISTRY))
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), help="default: S M L (settings table: S)")
    parser.add_argument("--frames", type=int, default=16, help="mel frames per call (64 = one paper clip)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after one warm-up call")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also time HiFi-GAN's and WaveFlow's previous path, and the deployment-settings table",
    )
    parser.add_argument("--clips", type=int, default=2, help="settings table: clips in the mel (default 2)")
    parser.add_argument(
        "--settings",
        nargs="+",
        default=list(DEFAULT_CANDIDATES),
        metavar="NAME",
        help=f"settings table: candidates by name (default: {' '.join(DEFAULT_CANDIDATES)})",
    )
    parser.add_argument("--no-compile", action="store_true", help="settings table: leave compiled candidates out")
    parser.add_argument(
        "--deployment-only", action="store_true", help="with --baseline: only the deployment-settings table"
    )
    args = parser.parse_args()
    try:
        candidates = [parse_setting(name) for name in args.settings]
    except ValueError as err:
        parser.error(str(err))
    if args.no_compile:
        candidates = [c for c in candidates if c.compile == "eager"]
    process_threads = torch.get_num_threads()

    if not (args.baseline and args.deployment_only):
        speed_table(args.families, args.sizes or list(SIZES), args.frames, args.repeats, args.baseline)
    if args.baseline:
        torch.set_num_threads(process_threads)
        settings_table(args.families, args.sizes or ["S"], args.clips, args.frames, args.repeats, candidates)


def speed_table(families: list[str], sizes: list[str], frames: int, repeats: int, baseline: bool) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, {frames} frames per call, median of {repeats}")
    print("| model | size | s per s of audio | GFLOP/s | page faults per call |")
    print("|---|---|---|---|---|")
    baselines = []
    for family in families:
        for size in sizes:
            torch.manual_seed(0)
            model = build_vocoder(family, size)
            model.prepare_inference()
            mel = torch.rand(1, model.n_mels, frames)
            meta = build_vocoder(family, size).to("meta")
            flops = count_generate_flops(meta, torch.zeros(1, model.n_mels, frames, device="meta"))["flops"]
            audio_seconds = frames * model.hop_length / model.sample_rate
            timed_call(model, mel)  # warm-up: allocator pools, lazy initialisation
            runs = [timed_call(model, mel) for _ in range(repeats)]
            seconds = statistics.median(s for s, _ in runs)
            faults = statistics.mean(f for _, f in runs)
            print(
                f"| {family} | {size} | {seconds / audio_seconds:.4f} | {flops / seconds / 1e9:.2f} | {faults:.0f} |",
                flush=True,
            )
            if baseline and family in BASELINES:
                baselines.append((family, size, compare_before(model, mel, repeats, BASELINES[family])))
    for family, size, (ratio, faults_now, faults_before, same) in baselines:
        print(
            f"{family} {size}: previous path / current time x{ratio:.3f}, page faults per call "
            f"{faults_before:.0f} -> {faults_now:.0f}, same audio: {same}"
        )
    torch.set_num_threads(threads)


def compare_before(model, mel, repeats: int, before_path) -> tuple[float, float, float, bool]:
    """Interleaved timings of the current and the previous path on the same model and mel."""
    now, before = [], []
    with before_path():
        old_audio = model.generate(mel, seed=0)
    same = torch.equal(old_audio, model.generate(mel, seed=0))
    for _ in range(repeats):
        now.append(timed_call(model, mel))
        with before_path():
            before.append(timed_call(model, mel))
    ratio = statistics.median(s for s, _ in before) / statistics.median(s for s, _ in now)
    return ratio, statistics.mean(f for _, f in now), statistics.mean(f for _, f in before), same


# ----------------------------------------------------------------- deployment settings (--baseline)
# fp16 is left out: PyTorch's CPU fp16 convolutions were 54-138x slower than fp32 here (docs/measurements.md),
# minutes per slow family for a setting that cannot win; ``--settings fp16`` times it.
DEFAULT_CANDIDATES = ("bf16", "fp32-compiled", "bf16-compiled", "fp32-b1", "fp32-t1")
TARGET_RATIO = 0.8  # the bar: the best setting at most 0.8x the default's time per second of audio
SLOW = 4.0  # a candidate whose warm-up call takes this many times the default's is timed in one pair only


def parse_setting(name: str) -> Setting:
    """A ``Setting`` from its name's parts in any order (``Setting.name`` writes them): a precision
    (fp32, bf16, fp16), ``b<clips per call>``, ``compiled`` or ``cuda_graphs``, ``t<threads>``,
    ``<watts>W``; what is not named is the paper's."""
    fields: dict = {}
    for part in name.split("-"):
        if part in PRECISIONS:
            fields["precision"] = part
        elif part in COMPILE_MODES:
            fields["compile"] = part
        elif part[:1] in "bt" and part[1:].isdigit():
            fields["clips_per_call" if part[0] == "b" else "threads"] = int(part[1:])
        elif part.endswith("W") and part[:-1].replace(".", "", 1).isdigit():
            fields["power_limit_watts"] = float(part[:-1])
        else:
            raise ValueError(
                f"--settings: {name!r}: {part!r} is not a precision ({', '.join(PRECISIONS)}), b<clips>, "
                f"{' or '.join(COMPILE_MODES[1:])}, t<threads> or <watts>W"
            )
    return Setting(**fields)


def seconds_of(run, mel: torch.Tensor) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    audio = run(mel)
    return time.perf_counter() - start, audio


@contextmanager
def threads_of(count: int):
    """The default path's threads for one call, whatever a candidate's block set them to."""
    saved = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def time_candidate(model, twin, mel, setting: Setting, repeats: int, threads: int) -> dict:
    """Interleaved medians of the default path (on ``twin``, same weights) and ``setting`` (on ``model``):
    the candidate's block stays open (compiled once), the default runs at the process's threads."""
    device = torch.device("cpu")
    if setting.clips_per_call is not None and setting.clips_per_call >= mel.shape[0]:
        return {"status": "skipped", "reason": f"{setting.clips_per_call} per call is all {mel.shape[0]} clips"}
    default_times, candidate_times, compile_seconds = [], [], None
    try:
        with ExitStack() as stack:
            default_run = stack.enter_context(deployed(twin, PAPER, device))
            run = stack.enter_context(deployed(model, setting, device))
            first, audio = seconds_of(run, mel)  # warm-up; compiles a compiled setting
            if setting.compile != "eager":
                compile_seconds = first
            if not torch.isfinite(audio).all():
                return {"status": "skipped", "reason": "the audio is not finite (overflow in this precision)"}
            with threads_of(threads):
                warm = seconds_of(default_run, mel)[0]
            # A candidate far slower than the default cannot win: its warm-up call is its timing.
            once = setting.compile == "eager" and first > SLOW * warm and first > 2.0
            if once:
                default_times, candidate_times = [warm], [first]
            for repeat in range(0 if once else repeats):
                for which in (0, 1) if repeat % 2 == 0 else (1, 0):
                    if which == 0:
                        with threads_of(threads):
                            default_times.append(seconds_of(default_run, mel)[0])
                    else:
                        candidate_times.append(seconds_of(run, mel)[0])
    except SettingUnavailable as err:
        return {"status": "skipped", "reason": str(err)}
    except Exception as err:  # a compiler that fails, an operator without a kernel in this precision
        what = "compilation failed" if setting.compile != "eager" else "it failed"
        return {"status": "skipped", "reason": f"{what} ({type(err).__name__}: {str(err).splitlines()[0][:200]})"}
    default, candidate = statistics.median(default_times), statistics.median(candidate_times)
    return {
        "status": "measured",
        "default": default,
        "seconds": candidate,
        "ratio": candidate / default,
        "compile_seconds": compile_seconds,
        "timed_once": once,
    }


def settings_table(
    families: list[str], sizes: list[str], clips: int, frames: int, repeats: int, candidates: list[Setting]
) -> dict:
    threads = torch.get_num_threads()
    print(
        f"\ndeployment settings: {clips} clips x {frames} frames, default = {PAPER.label} ({threads} threads), "
        f"each candidate interleaved with the default, median of {repeats}; load average "
        + " ".join(f"{load:.2f}" for load in os.getloadavg())
    )
    results = {}
    for family in families:
        for size in sizes:
            torch.manual_seed(0)
            model = build_vocoder(family, size)
            model.prepare_inference()
            mel = torch.rand(clips, model.n_mels, frames, generator=torch.Generator().manual_seed(0))
            audio_seconds = clips * frames * model.hop_length / model.sample_rate
            points = {}
            for setting in candidates:
                twin = copy.deepcopy(model)  # the default path's model: a compiled candidate changes its own
                points[setting.name] = point = time_candidate(model, twin, mel, setting, repeats, threads)
                del twin
                shown = (
                    f"x{point['ratio']:.3f}"
                    + (f" (compiled in {point['compile_seconds']:.0f} s)" if point["compile_seconds"] else "")
                    + (f" (over {SLOW:g}x slower: timed once)" if point["timed_once"] else "")
                    if point["status"] == "measured"
                    else f"skipped: {point['reason']}"
                )
                print(f"  {family} {size} {setting.name}: {shown}", flush=True)
            results[family, size] = (audio_seconds, points)
    print("\nload average at the end: " + " ".join(f"{load:.2f}" for load in os.getloadavg()))
    print("| family | size | default s per s of audio | best setting | its s per s | ratio (best/default) | <= 0.8x? |")
    print("|---|---|---|---|---|---|---|")
    for (family, size), (audio_seconds, points) in results.items():
        measured = {name: p for name, p in points.items() if p["status"] == "measured"}
        if measured:  # the default as timed in turn with the best setting: the ratio is theirs
            best = min(measured, key=lambda name: measured[name]["ratio"])
            point = measured[best]
            print(
                f"| {family} | {size} | {point['default'] / audio_seconds:.4f} | {best} "
                f"| {point['seconds'] / audio_seconds:.4f} | {point['ratio']:.3f} "
                f"| {'yes' if point['ratio'] <= TARGET_RATIO else 'no'} |"
            )
        else:
            print(f"| {family} | {size} | - | none measured | - | - | no |")
    print()
    for (family, size), (audio_seconds, points) in results.items():
        shown = [
            f"{name} x{p['ratio']:.3f} (default {p['default'] / audio_seconds:.4f} s/s)"
            if p["status"] == "measured"
            else f"{name} skipped ({p['reason']})"
            for name, p in points.items()
        ]
        print(f"{family} {size} settings: " + "; ".join(shown))
    return results


if __name__ == "__main__":
    main()
