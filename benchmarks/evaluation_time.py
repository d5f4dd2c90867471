"""Evaluation time per metric on the paper config's clips, measured on a sample and extrapolated.

The paper's test split is 2,620 clips of 2^14 samples (16 kHz) per model, 18 models; reference-free
metrics (DNSMOS) also score the ground truth once. Each metric is timed alone over ``--clips`` synthetic
speech-like clips of that length (after one warm-up clip, so pYIN's compilation and DNSMOS's model
loading are left out), on this machine's CPU; the extrapolation multiplies the per-clip time by the
paper's clip counts. Prints a table with the share of each metric in the whole evaluation, DNSMOS both with
the authors' windows for short clips (7 per 2^14-sample clip) and with one window
(``evaluation.dnsmos.short_clips: one_window``).

Threads: one by default, as a quality job gets from Snakemake (``OMP_NUM_THREADS``, which torch, BLAS and
our onnxruntime sessions follow), so seconds here are CPU-seconds and the hours CPU-hours.

    python benchmarks/evaluation_time.py [--clips 20] [--threads 1]
"""

import argparse
import os
import resource
import time

import numpy as np
import torch

from vocoder_energy.data.corpus import synthetic_utterance
from vocoder_energy.evaluation.metrics import METRICS, score_clips
from vocoder_energy.evaluation.spectral_distance import d_stft

PAPER_CLIPS, PAPER_MODELS, SAMPLES, SR = 2620, 18, 2**14, 16000


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read when the DNSMOS sessions load, below
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    references = [synthetic_utterance(rng, 1.1, SR)[:SAMPLES] for _ in range(args.clips + 1)]
    generated = [clip + 0.01 * rng.standard_normal(SAMPLES) for clip in references]
    runs = {name: (name, {}) for name, metric in METRICS.items() if not metric.needs_options}
    runs["dnsmos 1 window"] = ("dnsmos", {"dnsmos": {"short_clips": "one_window"}})
    per_clip = {"d_stft": timed(lambda: [d_stft(r, g) for r, g in zip(references[1:], generated[1:])]) / args.clips}
    peak_growth = {}  # MB the process's peak memory grew by while the metric ran (it only grows)
    for label, (name, options) in runs.items():
        score_clips(references[:1], generated[:1], [name], SR, options)  # warm-up: compilation, model loading
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        per_clip[label] = timed(score_clips, references[1:], generated[1:], [name], SR, options) / args.clips
        peak_growth[label] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    hours = {
        label: seconds * PAPER_CLIPS * (PAPER_MODELS + (1 if label.startswith("dnsmos") else 0))  # + ground truth
        for label, seconds in per_clip.items()
    }
    without = sum(hours.values()) - hours["dnsmos"] - hours["dnsmos 1 window"]
    total = without + hours["dnsmos"]
    print(
        f"{args.clips} clips of {SAMPLES} samples, {args.threads} torch threads; paper: {PAPER_CLIPS} clips x "
        f"{PAPER_MODELS} models (+ the ground truth for reference-free metrics)"
    )
    print(f"{'metric':<16} {'s per clip':>10} {'paper, CPU h':>13} {'share':>7} {'peak +MB':>9}")
    for label, seconds in per_clip.items():
        share = hours[label] / (without + hours[label]) if label.startswith("dnsmos") else hours[label] / total
        growth = f"{peak_growth[label]:>9.0f}" if label in peak_growth else f"{'':>9}"
        print(f"{label:<16} {seconds:>10.4f} {hours[label] / 3600:>13.2f} {share:>7.1%} {growth}")
    print(f"without dnsmos: {without / 3600:.2f} CPU h")
    for label in ("dnsmos", "dnsmos 1 window"):
        print(f"with {label}: {(without + hours[label]) / 3600:.2f} CPU h (+{hours[label] / without:.0%})")


if __name__ == "__main__":
    main()
