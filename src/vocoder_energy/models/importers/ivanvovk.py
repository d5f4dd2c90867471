"""WaveGrad of ivanvovk/WaveGrad (``pretrained_ljspeech.pt``, ``{'model': state_dict}``) -> our ``wavegrad``
with ``film_width="input"`` (their FiLM form, below).

Mapping (every ``Conv1dWithInitialization`` adds ``.conv1d``): ``nn.ublock_preconv`` -> ``mel_conv``; UBlock u:
``first_block_main_branch.upsampling.2`` -> ``ublocks.{u}.convs.0``, ``...modulation.convolution`` -> ``convs.1``,
``first_block_residual_branch.0`` -> ``residual``, ``second_block_main_branch.modulation_0`` / ``_1`` -> ``convs.2`` /
``convs.3``; ``nn.ublock_postconv`` -> ``output_conv``; ``nn.dblock_preconv`` -> ``audio_conv``; DBlock d:
``main_branch.{1,2,3}.convolution`` -> ``dblocks.{d}.convs.{0,1,2}``, ``residual_branch.0`` -> ``residual``; FiLM f:
``signal_conv.0`` -> ``films.{f}.input_conv``, ``scale_conv`` / ``shift_conv`` as named. The ten schedule buffers
(``betas`` ... ``posterior_mean_coef2``), when present, are dropped (the schedule is a hyperparameter).

Their FiLM keeps its input width through ``signal_conv`` (C_in -> C_in, LeakyReLU 0.2), adds a C_in-wide noise
encoding and maps C_in -> C_out in ``scale_conv`` / ``shift_conv``: our ``film_width="input"``. Checked against
the original code by weight copy (network output and a full sampling run with the same noise).

Configuration (shapes + published): hop 300 = ratios [5, 5, 3, 2, 2], UBlock dilations [1,2,1,2] x 2 then
[1,2,4,8] x 3, DBlock dilations [1, 2, 4], LeakyReLU 0.2, noise encoding 1e-4^(k/h) ("wavegrad_paper"), their
sampler (``sampler="ivanvovk"``: exact posterior mean from a clipped clean-signal prediction), training betas
linspace(1e-6, 0.01, 1000). Inference schedule: one of the published ones (``PUBLISHED_SCHEDULES``), chosen
with the import option ``{"inference_steps": N}``, N in 6, 7, 12, 25, 50, 100; default 6. The published
1000-step schedule is left out: the fact sheet does not reproduce its values (only its checksum).
Refused as not representable: other than 5 UBlocks (the published ratios), 4 DBlocks and 5 FiLMs, or FiLM
widths other than the audio path's outputs (in) and the UBlocks' outputs in reverse (out).
"""

from __future__ import annotations

from typing import Any

import torch

from vocoder_energy.models.blocks import linear_betas
from vocoder_energy.models.importers.common import Entry, Importer, UnrepresentableError, count, plain

SCHEDULE_BUFFERS = (
    "betas", "alphas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_recip_alphas_cumprod",
    "sqrt_alphas_cumprod_m1", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
)  # fmt: skip


def _float32(values: list[float]) -> list[float]:
    """The float32 values that these shortest round-trip decimals denote (as Python floats)."""
    return torch.tensor(values, dtype=torch.float32, device="cpu").tolist()


# The published inference schedules (schedules/pretrained/{N}iters.pt, released-checkpoints.md 5.6 and Appendix A),
# value for value: float32 in the files but the 25-step one, a list of float64 (Fibonacci numbers x 1e-6 summed
# in float64). The 1000-step file is not reproduced in the fact sheet and is left out.
PUBLISHED_SCHEDULES: dict[int, list[float]] = {
    6: _float32([1e-06, 1.892873e-05, 0.00011943212, 0.0010047548, 0.0110942535, 0.06]),
    7: _float32([1e-06, 5e-06, 1.8929e-05, 1e-04, 0.001, 0.0111, 0.06]),
    12: _float32([
        1e-06, 6.9303915e-06, 5.3367025e-06, 3.6985395e-05, 0.00017088217, 0.0003947601, 0.0013679202,
        0.0028089532, 0.003244524, 0.014990547, 0.008657524, 0.060000017,
    ]),
    25: [
        1e-06, 2e-06, 3e-06, 4.9999999999999996e-06, 8e-06, 1.3e-05, 2.1e-05, 3.4e-05, 5.4999999999999995e-05,
        8.9e-05, 0.00014399999999999998, 0.00023299999999999997, 0.00037699999999999995, 0.0006099999999999999,
        0.0009869999999999998, 0.0015969999999999997, 0.0025839999999999995, 0.004180999999999999,
        0.0067649999999999984, 0.010945999999999997, 0.017710999999999998, 0.028656999999999995,
        0.04636799999999999, 0.07502499999999998, 0.12139299999999997,
    ],
    50: _float32([
        1e-06, 1.2067925e-06, 5.8253927e-06, 1.7575102e-06, 8.4838e-06, 2.0476375e-05, 9.266526e-06, 1.8637977e-05,
        2.2492171e-05, 5.428677e-06, 3.2756434e-05, 2.371813e-05, 9.540955e-06, 6.908372e-05, 0.00012505458,
        0.00015091509, 0.00010117945, 7.326156e-05, 0.00026523453, 0.00032008305, 0.0003862738, 0.00036256295,
        0.00050004374, 0.00030172485, 0.00027308945, 0.0007689788, 0.0006628556, 0.0014398725, 0.001158419,
        0.00046599042, 0.0016870613, 0.002375255, 0.0032759316, 0.0034591986, 0.0017890865, 0.0064771688,
        0.0026055344, 0.0020962262, 0.003794565, 0.010684924, 0.012894486, 0.013337974, 0.016096167, 0.0064749112,
        0.035162456, 0.033004057, 0.034139186, 0.027465943, 0.041432142, 0.049999997,
    ]),
    100: _float32([
        1e-06, 1.0974983e-06, 1.2045037e-06, 1.3219408e-06, 1.4508294e-06, 6.3691305e-06, 6.99011e-06,
        1.5343283e-05, 8.419614e-06, 1.6170896e-05, 1.267682e-05, 2.2260461e-05, 6.107711e-06, 2.3461209e-05,
        3.310539e-05, 2.42221e-05, 3.5444988e-05, 4.8626016e-06, 1.6010108e-05, 4.6856174e-05, 2.5712312e-05,
        1.410961e-05, 3.0970543e-05, 5.0985233e-05, 9.326034e-06, 9.2117756e-05, 5.6166213e-05, 7.397079e-05,
        0.00010824387, 4.4549048e-05, 0.000114082504, 0.00016097848, 0.0001374128, 8.617732e-05, 0.00016551424,
        0.00015570137, 0.00014240181, 9.3771436e-05, 0.00013721867, 7.52987e-05, 0.00016528058, 0.00036279028,
        0.00024885134, 0.0003277367, 0.00023979391, 0.0001315867, 0.00021662426, 0.00039624167, 0.0005218495,
        0.0007636385, 0.00020952322, 0.0008048298, 0.0007571141, 0.0012463977, 0.001215929, 0.0010008605,
        0.0012815165, 0.0008036931, 0.00022051307, 0.0021781144, 0.0021248695, 0.00058301043, 0.0028793397,
        0.00035111915, 0.0030828228, 0.0038063189, 0.00046415898, 0.004584723, 0.0022363237, 0.0055223163,
        0.0006734151, 0.0051735057, 0.002433393, 0.0035608613, 0.0068390723, 0.0042890687, 0.004707248, 0.009040849,
        0.0042524235, 0.010889736, 0.0153661715, 0.0093690865, 0.008226049, 0.015799131, 0.0049541513, 0.0027185876,
        0.020885529, 0.016372746, 0.02875051, 0.015776826, 0.030301336, 0.019003237, 0.031284045, 0.051501308,
        0.03140146, 0.006892613, 0.0075646355, 0.0083021745, 0.009111627, 0.01,
    ]),
}  # fmt: skip
DEFAULT_INFERENCE_STEPS = 6
RATIOS = [5, 5, 3, 2, 2]
UP_DILATION_CYCLES = [2, 2, 4, 4, 4]


def _w(sd: dict, prefix: str) -> tuple[int, ...]:
    key = f"{prefix}.conv1d.weight"
    return tuple(sd[key].shape) if key in sd else (0, 0, 0)


class WaveGradImporter(Importer):
    format = "ivanvovk"
    family = "wavegrad"
    size = "M"
    project = "ivanvovk/WaveGrad"
    container = "{'model': state_dict} (optionally with 'iteration', 'optimizer')"
    container_key = "model"
    anchor = "nn.ublock_preconv."
    options = {"inference_steps": tuple(PUBLISHED_SCHEDULES)}

    def unwrap(self, obj, name):
        droppable = {"iteration": "training step counter", "optimizer": "Adam state (training only)"}
        return self.dict_container(obj, name, droppable)

    def infer(self, sd, name) -> dict[str, Any]:
        pre = _w(sd, "nn.ublock_preconv")
        n_u, n_d, n_f = count(sd, "nn.ublocks.{}."), count(sd, "nn.dblocks.{}."), count(sd, "nn.films.{}.")
        ups = [_w(sd, f"nn.ublocks.{u}.first_block_main_branch.upsampling.2") for u in range(n_u)]
        downs = [_w(sd, f"nn.dblocks.{d}.main_branch.1.convolution") for d in range(n_d)]
        films = [(_w(sd, f"nn.films.{f}.signal_conv.0")[0], _w(sd, f"nn.films.{f}.scale_conv")[0]) for f in range(n_f)]
        buffers = [b for b in SCHEDULE_BUFFERS if b in sd]
        return dict(
            n_mels=pre[1],
            up_in=[u[1] for u in ups],
            up_out=[u[0] for u in ups],
            down_first=_w(sd, "nn.dblock_preconv")[0],
            down_in=[d[1] for d in downs],
            down_out=[d[0] for d in downs],
            film_in=[f[0] for f in films],
            film_out=[f[1] for f in films],
            post_in=_w(sd, "nn.ublock_postconv")[1],
            schedule_buffers=buffers,
            schedule_length=sd[buffers[0]].shape[0] if buffers else 0,
        )

    def table(self, c) -> list[Entry]:
        m, rows = c["n_mels"], []
        why = "noise-schedule buffer (the schedule is a hyperparameter; the original's inference ignores it too)"
        rows += [Entry(b, (c["schedule_length"],), None, why) for b in c["schedule_buffers"]]

        def conv(theirs: str, ours: str, out: int, inp: int, k: int) -> list[Entry]:
            return plain(f"{theirs}.conv1d", ours, (out, inp, k), (out,))

        rows += conv("nn.ublock_preconv", "mel_conv", c["up_in"][0] if c["up_in"] else 0, m, 3)
        for u, (i, o) in enumerate(zip(c["up_in"], c["up_out"])):
            p, q = f"nn.ublocks.{u}", f"ublocks.{u}"
            rows += conv(f"{p}.first_block_main_branch.upsampling.2", f"{q}.convs.0", o, i, 3)
            rows += conv(f"{p}.first_block_main_branch.modulation.convolution", f"{q}.convs.1", o, o, 3)
            rows += conv(f"{p}.first_block_residual_branch.0", f"{q}.residual", o, i, 1)
            rows += conv(f"{p}.second_block_main_branch.modulation_0.convolution", f"{q}.convs.2", o, o, 3)
            rows += conv(f"{p}.second_block_main_branch.modulation_1.convolution", f"{q}.convs.3", o, o, 3)
        rows += conv("nn.ublock_postconv", "output_conv", 1, c["post_in"], 3)
        rows += conv("nn.dblock_preconv", "audio_conv", c["down_first"], 1, 5)
        for d, (i, o) in enumerate(zip(c["down_in"], c["down_out"])):
            p, q = f"nn.dblocks.{d}", f"dblocks.{d}"
            for n in range(3):
                rows += conv(f"{p}.main_branch.{n + 1}.convolution", f"{q}.convs.{n}", o, i if n == 0 else o, 3)
            rows += conv(f"{p}.residual_branch.0", f"{q}.residual", o, i, 1)
        for f, (i, o) in enumerate(zip(c["film_in"], c["film_out"])):
            p, q = f"nn.films.{f}", f"films.{f}"
            rows += conv(f"{p}.signal_conv.0", f"{q}.input_conv", i, i, 3)
            rows += conv(f"{p}.scale_conv", f"{q}.scale_conv", o, i, 3)
            rows += conv(f"{p}.shift_conv", f"{q}.shift_conv", o, i, 3)
        return rows

    def representable(self, c, name):
        counts = (len(c["up_out"]), len(c["down_out"]), len(c["film_out"]))
        if counts != (len(RATIOS), len(RATIOS) - 1, len(RATIOS)):
            raise UnrepresentableError(
                f"{name}: {counts[0]} UBlocks, {counts[1]} DBlocks and {counts[2]} FiLMs; the published ratios "
                f"{RATIOS} need {len(RATIOS)}, {len(RATIOS) - 1} and {len(RATIOS)}"
            )
        audio_path = [c["down_first"], *c["down_out"]]  # what FiLM f reads
        ublocks = list(reversed(c["up_out"]))  # what FiLM f modulates
        if c["film_in"] != audio_path or c["film_out"] != ublocks:
            raise UnrepresentableError(
                f"{name}: FiLM widths in {c['film_in']} / out {c['film_out']}; our wavegrad family needs the "
                f"audio path's outputs {audio_path} in and the UBlocks' outputs, last first, {ublocks} out"
            )

    def hyperparameters(self, c):
        return dict(
            up_channels=[c["n_mels"], c["up_in"][0], *c["up_out"], 1],
            down_channels=[1, c["down_first"], *c["down_out"]],
            up_dilation_cycles=UP_DILATION_CYCLES,
            down_dilation_cycle=3,
            blocks_per_stage=1,
            upsample_ratios=RATIOS,
            n_mels=c["n_mels"],
            hop_length=300,
            sample_rate=22050,
            train_noise_schedule=linear_betas(1e-6, 0.01, 1000),
            inference_noise_schedule=list(PUBLISHED_SCHEDULES[DEFAULT_INFERENCE_STEPS]),
            leaky_relu_slope=0.2,
            noise_encoding="wavegrad_paper",
            film_width="input",
            sampler="ivanvovk",
        )

    def apply_options(self, hyperparameters, options):
        steps = options.get("inference_steps", DEFAULT_INFERENCE_STEPS)
        return hyperparameters | {"inference_noise_schedule": list(PUBLISHED_SCHEDULES[steps])}

    def notes(self, c):
        return [
            "from the published configuration, not the file: hop 300 (ratios [5, 5, 3, 2, 2]), 22050 Hz, the "
            "dilations, LeakyReLU 0.2, the training schedule linspace(1e-6, 0.01, 1000)",
            "inference schedule: a published one (import option inference_steps, one of 6, 7, 12, 25, 50, 100; "
            "default 6); the 1000-step one is not available",
        ]
