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

    python benchmarks/inference_speed.py                          # all families, S/M/L, 16 frames
    python benchmarks/inference_speed.py --families hifigan --sizes S M --frames 64 --repeats 7 --baseline
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import time
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from vocoder_energy.cost.flops import count_generate_flops
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
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--frames", type=int, default=16, help="mel frames per call (64 = one paper clip)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after one warm-up call")
    parser.add_argument("--baseline", action="store_true", help="also time HiFi-GAN's and WaveFlow's previous path")
    args = parser.parse_args()

    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, {args.frames} frames per call, median of {args.repeats}")
    print("| model | size | s per s of audio | GFLOP/s | page faults per call |")
    print("|---|---|---|---|---|")
    baselines = []
    for family in args.families:
        for size in args.sizes:
            torch.manual_seed(0)
            model = build_vocoder(family, size)
            model.prepare_inference()
            mel = torch.rand(1, model.n_mels, args.frames)
            meta = build_vocoder(family, size).to("meta")
            flops = count_generate_flops(meta, torch.zeros(1, model.n_mels, args.frames, device="meta"))["flops"]
            audio_seconds = args.frames * model.hop_length / model.sample_rate
            timed_call(model, mel)  # warm-up: allocator pools, lazy initialisation
            runs = [timed_call(model, mel) for _ in range(args.repeats)]
            seconds = statistics.median(s for s, _ in runs)
            faults = statistics.mean(f for _, f in runs)
            print(
                f"| {family} | {size} | {seconds / audio_seconds:.4f} | {flops / seconds / 1e9:.2f} | {faults:.0f} |",
                flush=True,
            )
            if args.baseline and family in BASELINES:
                baselines.append((family, size, compare_before(model, mel, args.repeats, BASELINES[family])))
    for family, size, (ratio, faults_now, faults_before, same) in baselines:
        print(
            f"{family} {size}: previous path / current time x{ratio:.3f}, page faults per call "
            f"{faults_before:.0f} -> {faults_now:.0f}, same audio: {same}"
        )


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


if __name__ == "__main__":
    main()
