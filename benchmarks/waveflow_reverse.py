"""WaveFlow's two reverse passes: the same audio, different cost. Prints time and FLOP ratios.

The cached pass generates one row per step with per-layer caches; the naive pass re-runs the 2-D
WaveNet over every row generated so far (what Table 2 counted). Both run in this process on the
same model, mel and seed; the naive one is the baseline.

    python benchmarks/waveflow_reverse.py [--size S] [--frames 8] [--repeats 3]
"""

import argparse
import time

import torch

from vocoder_energy.cost.flops import count_generate_flops
from vocoder_energy.models import build_vocoder


def best_time(model, mel, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.generate(mel, seed=0)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="S", choices=["S", "M", "L"])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = build_vocoder("waveflow", args.size)
    model.prepare_inference()
    mel = torch.rand(1, model.n_mels, args.frames)
    results = {}
    for mode in ("naive", "cached"):
        model.reverse = mode
        audio = model.generate(mel, seed=0)
        results[mode] = (best_time(model, mel, args.repeats), count_generate_flops(model, mel)["flops"], audio)
    (t_naive, f_naive, a_naive), (t_cached, f_cached, a_cached) = results["naive"], results["cached"]
    print(f"waveflow {args.size}, {args.frames} frames, {torch.get_num_threads()} threads, best of {args.repeats}")
    print(f"naive : {t_naive:8.3f} s  {f_naive / 1e9:10.2f} GFLOPs")
    print(f"cached: {t_cached:8.3f} s  {f_cached / 1e9:10.2f} GFLOPs")
    print(f"naive / cached: time x{t_naive / t_cached:.2f}, FLOPs x{f_naive / f_cached:.2f}")
    print(f"max |audio difference|: {(a_naive - a_cached).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
