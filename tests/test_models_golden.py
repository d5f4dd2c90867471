"""Golden outputs of WaveFlow, WaveGrad, Vocos and BigVGAN for fixed seeds, so that any change to a network shows.

The values in ``tests/data/golden_models.json`` were produced by this module itself
(``.venv/bin/python tests/test_models_golden.py`` rewrites them) from tiny models built, initialised and run
in double precision with fixed seeds; they pin our own networks (the layouts checked against the originals
by weight copy, see README), not anyone else's code. Regenerate only when a change to the network is intended.

Why everything is float64, construction included: a model built in float32 and then cast with ``.double()``
carries float32 initial weights, and those differ between machines (``nn.init.orthogonal_`` draws float32
normals with a CPU-specific vectorised kernel and runs a float32 QR in the machine's LAPACK; weight norm's
``g`` is a float32 reduction): these outputs then moved by 4e-8 to 3e-6 relative between CPU kernels, which no
float64 tolerance can absorb (issue 16: 1.5e-7 to 1.4e-6 on an AVX2 machine against an AVX-512 one). Built
under a float64 default dtype, the same models agree across CPU kernels to ~2e-13 relative (measured with
``ATEN_CPU_CAPABILITY=default/avx2/avx512``, ``MKL_CBWR=COMPATIBLE`` and 1 or 2 threads).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

from vocoder_energy.models import build_vocoder

GOLDEN = Path(__file__).parent / "data" / "golden_models.json"

# Golden comparison tolerances, in float64 (eps 2.2e-16). Across CPU kernels (ATEN_CPU_CAPABILITY default, avx2,
# avx512; MKL_CBWR=COMPATIBLE; 1 or 2 threads) the values below moved by at most 2.8e-13 absolute (on sums of
# 50..400) and 1.9e-13 relative (on an element of 0.007): only the order of floating-point sums differs. The
# worst |got - want| / (ATOL + RTOL |want|) was 8e-5, a margin of >10,000 for other machines. A real change is
# far outside: one weight of either network scaled by 1 + 1e-3 fails it (every weight that can change these
# outputs), most already at 1 + 1e-6; one WaveGrad beta at 1 + 1e-8; any float32 rounding on the way (~1e-7).
RTOL, ATOL = 1e-9, 1e-11


class _NonFloat64Ops(TorchFunctionMode):
    """Records every torch call that returns a floating-point tensor that is not float64."""

    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        stack = [result]
        while stack:
            item = stack.pop()
            if isinstance(item, (tuple, list)):
                stack.extend(item)
            elif isinstance(item, torch.Tensor) and item.is_floating_point() and item.dtype != torch.float64:
                self.seen.add(f"{getattr(func, '__qualname__', func)} -> {item.dtype}")
        return result


@contextlib.contextmanager
def _float64_everywhere():
    """Default dtype float64 (so parameters are created and initialised in float64) while recording any
    floating-point result in another dtype; raises if there was one."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with _NonFloat64Ops() as mode:
            yield
    finally:
        torch.set_default_dtype(previous)
    assert not mode.seen, f"non-float64 intermediates in a float64 golden computation: {sorted(mode.seen)}"


def _summary(t: torch.Tensor) -> dict:
    """A few values and checksums: enough to catch a change, small enough to store."""
    assert t.dtype == torch.float64, t.dtype
    flat = t.detach().reshape(-1)
    return {"first": flat[:6].tolist(), "sum": flat.sum().item(), "abs_sum": flat.abs().sum().item()}


def _check_float64(model: torch.nn.Module) -> None:
    tensors = [*model.parameters(), *model.buffers()]
    assert all(t.dtype == torch.float64 for t in tensors if t.is_floating_point())


def _inputs(batch: int, frames: int, hop: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    mel = torch.rand(batch, 80, frames, generator=gen, dtype=torch.float64)
    audio = 0.4 * torch.randn(batch, frames * hop, generator=gen, dtype=torch.float64)
    return audio, mel


def waveflow_outputs() -> dict:
    with _float64_everywhere():
        torch.manual_seed(1234)
        model = build_vocoder("waveflow", "S", residual_channels=8, n_flows=3, n_layers=3)
        _check_float64(model)
        gen = torch.Generator().manual_seed(99)
        with torch.no_grad():  # non-zero log_s / t projections, so that every flow transforms
            for flow in model.generator.flows:
                flow.proj.weight.copy_(0.1 * torch.randn(flow.proj.weight.shape, generator=gen, dtype=torch.float64))
                flow.proj.bias.copy_(0.1 * torch.randn(flow.proj.bias.shape, generator=gen, dtype=torch.float64))
        audio, mel = _inputs(1, 2, 256, seed=7)
        with torch.no_grad():
            latent, logdet = model.encode(audio, mel)
        generated = model.generate(mel, seed=11)
        assert logdet.dtype == torch.float64
        return {"latent": _summary(latent), "logdet": logdet.tolist(), "generated": _summary(generated)}


def wavegrad_outputs() -> dict:
    with _float64_everywhere():
        torch.manual_seed(1234)
        model = build_vocoder(
            "wavegrad",
            "S",
            up_channels=[80, 16, 16, 16, 8, 8, 8, 1],
            down_channels=[1, 4, 8, 8, 8, 16],
            inference_steps=3,
        )
        _check_float64(model)
        audio, mel = _inputs(1, 2, 256, seed=7)
        with torch.no_grad():
            eps = model.generator(audio, mel, torch.tensor([0.6], dtype=torch.float64))
        out = {"denoiser": _summary(eps), "generated": _summary(model.generate(mel, seed=11))}
        model.sampler = "authors"
        out["generated_authors_sampler"] = _summary(model.generate(mel, seed=11))
        return out


def _perturb(model: torch.nn.Module, names: tuple[str, ...], seed: int, scale: float = 0.3) -> None:
    """Parameters whose initial values hide their role (zeros, ones) moved to seeded random values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.rsplit(".", 1)[-1] in names:
                parameter.add_(scale * torch.randn(parameter.shape, generator=gen, dtype=torch.float64))


def vocos_outputs() -> dict:
    with _float64_everywhere():
        torch.manual_seed(1234)
        model = build_vocoder("vocos", "S", dim=8, intermediate_dim=12, num_layers=2)
        _check_float64(model)
        _perturb(model.generator, ("gamma",), seed=5)  # layer scale starts at 1 / layers for every channel
        _, mel = _inputs(1, 3, 256, seed=7)
        out = {"generated": _summary(model.generate(mel))}
        center = build_vocoder("vocos", "S", dim=8, intermediate_dim=12, num_layers=2, padding="center")
        center.load_state_dict(model.state_dict())
        out["generated_center_padding"] = _summary(center.generate(mel))
        return out


def bigvgan_outputs() -> dict:
    # Built under a float64 default dtype (initial weights in float64), then cast. The anti-aliasing
    # filters are computed in float32, as the authors', where another CPU's vectorised kernels may move
    # a tap by an ulp (1e-7, far outside these tolerances): they are set to the published taps here, and
    # their computation is checked against those taps in test_models_bigvgan.
    from test_models_bigvgan import PUBLISHED_FILTER

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(1234)
        model = build_vocoder("bigvgan", "S", upsample_initial_channel=16).double()
    finally:
        torch.set_default_dtype(previous)
    with _float64_everywhere():
        _check_float64(model)
        _perturb(model.generator, ("alpha", "beta"), seed=5)  # log-scale Snake parameters start at 0
        taps = torch.tensor(PUBLISHED_FILTER, dtype=torch.float64).view(1, 1, -1)
        for name, buffer in model.generator.named_buffers():
            if name.endswith("filter"):
                buffer.copy_(taps)
        _, mel = _inputs(1, 2, 256, seed=7)
        return {"generated": _summary(model.generate(mel))}


FAMILIES = {
    "waveflow": waveflow_outputs,
    "wavegrad": wavegrad_outputs,
    "vocos": vocos_outputs,
    "bigvgan": bigvgan_outputs,
}


def outputs() -> dict:
    return {family: make() for family, make in FAMILIES.items()}


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("family,make", list(FAMILIES.items()))
def test_outputs_match_the_golden_values(golden, family, make):
    # float64 throughout (checked by make()); compared as float64, not rounded to float32 on the way
    got, want = make(), golden[family]
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(
            torch.tensor(_flatten(got[name]), dtype=torch.float64),
            torch.tensor(_flatten(want[name]), dtype=torch.float64),
            rtol=RTOL,
            atol=ATOL,
            msg=f"{family} {name} differs from tests/data/golden_models.json",
        )


def test_a_float32_intermediate_is_caught():
    with pytest.raises(AssertionError, match="non-float64 intermediates"):
        with _float64_everywhere():
            torch.ones(3, dtype=torch.float64) + torch.randn(3, dtype=torch.float32)


def _flatten(value) -> list[float]:
    if isinstance(value, dict):
        return [x for key in sorted(value) for x in _flatten(value[key])]
    if isinstance(value, list):
        return [x for item in value for x in _flatten(item)]
    return [float(value)]


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(outputs(), indent=1) + "\n")
    print(f"wrote {GOLDEN}")
