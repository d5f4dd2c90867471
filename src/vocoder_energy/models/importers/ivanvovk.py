"""WaveGrad of ivanvovk/WaveGrad (``pretrained_ljspeech.pt``, ``{'model': state_dict}``) -> our ``wavegrad``:
mapped and checked, but **not representable** (``UnrepresentableError``), see below.

Mapping (every ``Conv1dWithInitialization`` adds ``.conv1d``): ``nn.ublock_preconv`` -> ``mel_conv``; UBlock u:
``first_block_main_branch.upsampling.2`` -> ``ublocks.{u}.convs.0``, ``...modulation.convolution`` -> ``convs.1``,
``first_block_residual_branch.0`` -> ``residual``, ``second_block_main_branch.modulation_0`` / ``_1`` -> ``convs.2`` /
``convs.3``; ``nn.ublock_postconv`` -> ``output_conv``; ``nn.dblock_preconv`` -> ``audio_conv``; DBlock d:
``main_branch.{1,2,3}.convolution`` -> ``dblocks.{d}.convs.{0,1,2}``, ``residual_branch.0`` -> ``residual``; FiLM f:
``signal_conv.0`` -> ``films.{f}.input_conv``, ``scale_conv`` / ``shift_conv`` as named. The ten schedule buffers
(``betas`` ... ``posterior_mean_coef2``), when present, are dropped (the schedule is a hyperparameter).
Configuration (shapes + published): hop 300 = ratios [5, 5, 3, 2, 2], UBlock dilations [1,2,1,2] x 2 then
[1,2,4,8] x 3, DBlock dilations [1, 2, 4], LeakyReLU 0.2, noise encoding 1e-4^(k/h) ("wavegrad_paper"), the
authors' sampler, training betas linspace(1e-6, 0.01, 1000), the published 6-step inference schedule.

What our family lacks: their FiLM keeps its input width through ``signal_conv`` (C_in -> C_in), adds a
C_in-wide noise encoding and maps C_in -> C_out in ``scale_conv`` / ``shift_conv``; ours maps C_in -> C_out in
its first conv and encodes at C_out width. The two agree only where C_in = C_out (FiLMs 1 and 4 of the
published model), so FiLMs 0, 2 and 3 cannot be represented.
"""

from __future__ import annotations

from typing import Any

from vocoder_energy.models.blocks import linear_betas
from vocoder_energy.models.importers.common import Entry, Importer, UnrepresentableError, count, plain

SCHEDULE_BUFFERS = (
    "betas", "alphas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_recip_alphas_cumprod",
    "sqrt_alphas_cumprod_m1", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
)  # fmt: skip
PUBLISHED_6_STEPS = [1e-06, 1.892873e-05, 0.00011943212, 0.0010047548, 0.0110942535, 0.06]
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
        wrong = [f for f, (i, o) in enumerate(zip(c["film_in"], c["film_out"])) if i != o]
        if wrong:
            raise UnrepresentableError(
                f"{name}: our wavegrad family cannot represent ivanvovk's FiLM layers {wrong} "
                f"(widths {[(c['film_in'][f], c['film_out'][f]) for f in wrong]}): theirs run signal_conv "
                "C_in -> C_in, add a C_in-wide noise encoding, then scale_conv/shift_conv C_in -> C_out; ours map "
                "C_in -> C_out in the first conv and encode at C_out width. Missing in models/wavegrad.py: a FiLM "
                "variant with the encoding at input width"
            )
        if len(c["up_out"]) != len(RATIOS):
            raise UnrepresentableError(f"{name}: {len(c['up_out'])} UBlocks; the published ratios {RATIOS} need 5")

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
            inference_noise_schedule=PUBLISHED_6_STEPS,
            leaky_relu_slope=0.2,
            noise_encoding="wavegrad_paper",
            sampler="authors",
        )
