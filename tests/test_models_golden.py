"""Golden outputs of WaveFlow and WaveGrad for fixed seeds, so that any change to either network shows.

The values in ``tests/data/golden_models.json`` were produced by this module itself
(``.venv/bin/python tests/test_models_golden.py`` rewrites them) from tiny double-precision models built
with fixed seeds; they pin our own networks (the layouts checked against the originals by weight copy,
see README), not anyone else's code. Regenerate only when a change to the network is intended.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vocoder_energy.models import build_vocoder

GOLDEN = Path(__file__).parent / "data" / "golden_models.json"


def _summary(t: torch.Tensor) -> dict:
    """A few values and checksums: enough to catch a change, small enough to store."""
    flat = t.detach().reshape(-1)
    return {"first": flat[:6].tolist(), "sum": flat.sum().item(), "abs_sum": flat.abs().sum().item()}


def _inputs(batch: int, frames: int, hop: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    mel = torch.rand(batch, 80, frames, generator=gen, dtype=torch.float64)
    audio = 0.4 * torch.randn(batch, frames * hop, generator=gen, dtype=torch.float64)
    return audio, mel


def waveflow_outputs() -> dict:
    torch.manual_seed(1234)
    model = build_vocoder("waveflow", "S", residual_channels=8, n_flows=3, n_layers=3).double()
    gen = torch.Generator().manual_seed(99)
    with torch.no_grad():  # non-zero log_s / t projections, so that every flow transforms
        for flow in model.generator.flows:
            flow.proj.weight.copy_(0.1 * torch.randn(flow.proj.weight.shape, generator=gen, dtype=torch.float64))
            flow.proj.bias.copy_(0.1 * torch.randn(flow.proj.bias.shape, generator=gen, dtype=torch.float64))
    audio, mel = _inputs(1, 2, 256, seed=7)
    with torch.no_grad():
        latent, logdet = model.encode(audio, mel)
    generated = model.generate(mel, seed=11)
    return {"latent": _summary(latent), "logdet": logdet.tolist(), "generated": _summary(generated)}


def wavegrad_outputs() -> dict:
    torch.manual_seed(1234)
    model = build_vocoder(
        "wavegrad",
        "S",
        up_channels=[80, 16, 16, 16, 8, 8, 8, 1],
        down_channels=[1, 4, 8, 8, 8, 16],
        inference_steps=3,
    ).double()
    audio, mel = _inputs(1, 2, 256, seed=7)
    with torch.no_grad():
        eps = model.generator(audio, mel, torch.tensor([0.6], dtype=torch.float64))
    out = {"denoiser": _summary(eps), "generated": _summary(model.generate(mel, seed=11))}
    model.sampler = "authors"
    out["generated_authors_sampler"] = _summary(model.generate(mel, seed=11))
    return out


def outputs() -> dict:
    return {"waveflow": waveflow_outputs(), "wavegrad": wavegrad_outputs()}


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("family,make", [("waveflow", waveflow_outputs), ("wavegrad", wavegrad_outputs)])
def test_outputs_match_the_golden_values(golden, family, make):
    # float64 throughout: only the order of floating-point sums may differ between machines
    got, want = make(), golden[family]
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(
            torch.tensor(_flatten(got[name])),
            torch.tensor(_flatten(want[name])),
            rtol=1e-9,
            atol=1e-11,
            msg=f"{family} {name} differs from tests/data/golden_models.json",
        )


def _flatten(value) -> list[float]:
    if isinstance(value, dict):
        return [x for key in sorted(value) for x in _flatten(value[key])]
    if isinstance(value, list):
        return [x for item in value for x in _flatten(item)]
    return [float(value)]


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(outputs(), indent=1) + "\n")
    print(f"wrote {GOLDEN}")
