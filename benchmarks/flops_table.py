"""Our parameter and FLOP counts for every built-in configuration next to Table 2 of the paper (the paper's
18; Vocos and BigVGAN-v2, which it did not study, with a blank Table 2 column).

Counts one ``generate()`` on a 64-frame mel (16,384 samples at hop 256, the paper's "per second"),
on the meta device: shapes only, no arithmetic, so the whole table takes seconds.

    python benchmarks/flops_table.py            # hop 256 everywhere (the paper's text)
    python benchmarks/flops_table.py --paper    # as Table 2 counted: WaveFlow naive reverse, WaveGrad hop 512
    python benchmarks/flops_table.py --families vocos,bigvgan

With ``--paper`` it also reconstructs WaveFlow's Table 2 figures from ours: the original naive reverse
computes rows that it discards (see ``waveflow_discarded_row_flops``) and runs on 61 of the 64 frames.
"""

import argparse

import torch

from vocoder_energy.cost.flops import count_generate_flops
from vocoder_energy.models import REGISTRY, SIZES, build_vocoder

TABLE_2_GFLOPS = {
    "melgan": (1.39, 7.02, 33.98),
    "hifigan": (2.56, 3.22, 40.57),
    "wavegrad": (890.44, 3498.64, 8522.08),
    "diffwave": (79.43, 255.78, 899.61),
    "waveflow": (852.85, 3419.39, 6063.60),
    "waveglow": (45.84, 116.21, 333.04),
}
PAPER_COUNTING = {"waveflow": {"reverse": "naive"}, "wavegrad": {"hop_length": 512}}
ORIGINAL_WAVEFLOW_FRAMES = 61  # the original reverse drops the upsampler's last 3 frames


def waveflow_discarded_row_flops(model, frames: int) -> int:
    """FLOPs the original naive reverse spends on rows it throws away, which ours never computes.

    Its height-causal convolutions pad (k - 1) * d_h rows at both ends and crop the bottom ones, so in each
    of the H - 1 WaveNet calls per flow every dilated convolution computes ``context`` extra output rows.
    """
    generator = model.generator
    width = frames * model.hop_length // generator.height
    macs = 0
    for flow in generator.flows:
        for layer in flow.layers:
            conv = layer.conv
            per_position = conv.in_channels * conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
            macs += (generator.height - 1) * layer.context * width * per_position
    return 2 * macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper", action="store_true", help="count as Table 2 did")
    parser.add_argument("--families", default=",".join(REGISTRY), help="comma-separated (default: all built-in)")
    args = parser.parse_args()
    print("| model | size | parameters (M) | ours (GFLOPs) | Table 2 | ours / Table 2 |")
    print("|---|---|---|---|---|---|")
    notes = []
    for family in args.families.split(","):
        for index, size in enumerate(SIZES):
            options = PAPER_COUNTING.get(family, {}) if args.paper else {}
            model = build_vocoder(family, size, **options).to("meta")
            frames = 64 * 256 // model.hop_length
            if args.paper and family == "wavegrad":
                frames = 64  # the authors fed 64 frames at hop 512
            mel = torch.zeros(1, model.n_mels, frames, device="meta")
            gflops = count_generate_flops(model, mel)["flops"] / 1e9
            params = model.num_parameters() / 1e6
            if family in TABLE_2_GFLOPS:
                paper = TABLE_2_GFLOPS[family][index]
                print(
                    f"| {family} | {size} | {params:.2f} | {gflops:,.2f} | {paper:,.2f} | {gflops / paper:.3f} |",
                    flush=True,
                )
            else:
                print(f"| {family} | {size} | {params:.2f} | {gflops:,.2f} | not in the paper | |", flush=True)
            if args.paper and family == "waveflow":
                as_original = (gflops + waveflow_discarded_row_flops(model, frames) / 1e9) * (
                    ORIGINAL_WAVEFLOW_FRAMES / frames
                )
                notes.append(
                    f"waveflow {size}: as the original naive reverse computes it (plus discarded padding rows, "
                    f"{ORIGINAL_WAVEFLOW_FRAMES} of {frames} frames) {as_original:,.2f} GFLOPs, "
                    f"/ Table 2 = {as_original / paper:.4f}"
                )
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
