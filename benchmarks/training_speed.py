"""Training speed per family on this machine's device: steps/s and clips/s of real training steps.

Each model trains on random clips of ``--segment`` samples (the paper's 2^14 by default) at the
given batch size and precision, after warm-up steps; on CUDA the timing synchronises at the ends.
Models and sizes come from a config file (the paper's presets by default: every family, size S).

    python benchmarks/training_speed.py [--config config/paper.yaml] [--families hifigan,vocos] [--sizes S]
        [--batch-size 16] [--steps 10] [--warmup 2] [--precision fp32|bf16|fp16] [--segment 16384]
"""

import argparse
import time

import torch
import yaml

from vocoder_energy.core.gpu_lease import gpu_lease
from vocoder_energy.models import REGISTRY, build_vocoder
from vocoder_energy.training import precision


def steps_per_second(model, batch: int, segment: int, steps: int, warmup: int, mode: str, device) -> float:
    torch.manual_seed(0)
    model.to(device).train()
    model.setup_training()
    model.grad_scaler = precision.gradient_scaler(mode, device)
    audio = 0.3 * torch.randn(batch, segment, device=device)
    mel = torch.rand(batch, model.n_mels, segment // model.hop_length, device=device)

    def step():
        with precision.autocast(mode, device):
            model.training_step(audio, mel)
        model.grad_scaler.update()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="a workflow config: its models and their overrides")
    parser.add_argument("--sizes", default="S", help="sizes to run when no --config (e.g. SML)")
    parser.add_argument("--families", default=",".join(REGISTRY), help="comma-separated, when no --config")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--segment", type=int, default=16384)
    parser.add_argument("--precision", default="fp32", choices=precision.PRECISIONS)
    args = parser.parse_args()
    if args.config:
        models = yaml.safe_load(open(args.config))["models"]
        jobs = [
            (family, size, overrides or {}) for family, sizes in models.items() for size, overrides in sizes.items()
        ]
    else:
        jobs = [(family, size, {}) for family in args.families.split(",") for size in args.sizes]
    with gpu_lease() as device:
        precision.allow_tf32(device)
        name = (
            torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
        )
        print(f"device: {device} ({name}); batch {args.batch_size} x {args.segment} samples; {args.precision}")
        print("| model | size | steps/s | clips/s |")
        print("|---|---|---|---|")
        for family, size, overrides in jobs:
            torch.manual_seed(0)
            model = build_vocoder(family, size, **overrides)
            rate = steps_per_second(
                model, args.batch_size, args.segment, args.steps, args.warmup, args.precision, device
            )
            print(f"| {family} | {size} | {rate:.3g} | {rate * args.batch_size:.3g} |", flush=True)
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
