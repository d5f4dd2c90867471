"""``check_vocoder``: does a family meet the ``Vocoder`` contract (docs/extending.md)? For real, on a
small input: every rule builds and runs the model and says which rule broke and how.

A plugin author calls it from their own tests::

    from vocoder_energy.testing import check_vocoder

    def test_my_vocoder_meets_the_contract():
        check_vocoder(MyVocoder, size="S")
"""

from __future__ import annotations

import copy
import inspect
import io
import math
import typing
import warnings
from typing import Any

import torch

from vocoder_energy.models import FAMILY_NAME, Vocoder


class ContractError(AssertionError):
    """A family breaks one rule of the ``Vocoder`` contract; the message names the rule."""

    def __init__(self, rule: str, detail: str):
        super().__init__(f"{rule}: {detail}")
        self.rule = rule


RULES = (
    "class",
    "meta",
    "output_length",
    "seeded",
    "weight_norm",
    "parameters",
    "training_step",
    "checkpoint",
    "generator_losses",
    "flops",
)


def check_vocoder(cls: type[Vocoder], size: str = "S", frames: int = 8, batch: int = 2, **overrides: Any) -> None:
    """Raise ``ContractError`` (naming the rule) unless ``cls`` at ``size`` (plus hyperparameter
    ``overrides``) meets every rule of the contract, on ``batch`` random mels of ``frames`` frames."""
    _check_class(cls, size, overrides)
    hyperparameters = {**cls.presets[size], **overrides}
    _check_meta(cls, hyperparameters)
    model = _build(cls, hyperparameters)
    mel = torch.rand(batch, model.n_mels, frames, generator=torch.Generator().manual_seed(0))
    audio_shape = (batch, frames * model.hop_length)
    _check_weight_norm_and_output(cls, hyperparameters, mel, audio_shape)
    _check_parameters(model)
    _check_training(cls, hyperparameters, mel, audio_shape)
    _check_flops(_build(cls, hyperparameters), mel)


def _build(cls: type[Vocoder], hyperparameters: dict[str, Any]) -> Vocoder:
    torch.manual_seed(0)
    return cls(**hyperparameters)


def _check_class(cls: type, size: str, overrides: dict[str, Any]) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Vocoder)):
        raise ContractError("class", f"{cls!r} is not a subclass of vocoder_energy.models.Vocoder")
    family = getattr(cls, "family", None)
    if not isinstance(family, str) or not FAMILY_NAME.fullmatch(family):
        raise ContractError("class", f"family = {family!r}: set a name of lower-case letters and digits")
    presets = getattr(cls, "presets", None)
    if not isinstance(presets, dict) or size not in presets:
        raise ContractError("class", f"presets has no size {size!r} (presets: size -> hyperparameters)")
    try:
        typing.get_type_hints(cls.__init__)  # the config checks read them to check override types
    except Exception as err:
        raise ContractError("class", f"__init__'s annotations do not resolve ({type(err).__name__}: {err})") from None
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    for name in (*presets[size], *overrides, *cls.inference_options, "n_mels", "hop_length", "sample_rate"):
        if name not in accepted:
            raise ContractError("class", f"{name!r} (preset, override or inference option) is no __init__ argument")


def _check_meta(cls: type[Vocoder], hyperparameters: dict[str, Any]) -> None:
    """The config checks build every configured model on the meta device before any job runs."""
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls(**hyperparameters)
    except Exception as err:
        raise ContractError(
            "meta", f"the constructor fails on the meta device ({type(err).__name__}: {err}); it must not read values"
        ) from None


def _check_weight_norm_and_output(cls, hyperparameters, mel, audio_shape) -> None:
    model = _build(cls, hyperparameters).eval()
    with torch.inference_mode(), torch.random.fork_rng():
        torch.manual_seed(1)
        before = model.infer(mel)
    rng = torch.get_rng_state()
    first = model.generate(mel, seed=1)
    if not torch.equal(rng, torch.get_rng_state()):
        raise ContractError("seeded", "generate(mel, seed=...) changed the global random state")
    if tuple(first.shape) != audio_shape:
        raise ContractError(
            "output_length", f"generate returned shape {tuple(first.shape)}; expected {audio_shape} (frames x hop)"
        )
    if not torch.equal(first, model.generate(mel, seed=1)):
        raise ContractError("seeded", "two generate(mel, seed=1) calls returned different audio")
    left = [name for name, _ in model.generator.named_parameters() if "parametrizations" in name]
    if left:
        raise ContractError("weight_norm", f"{left[0]} is still a weight-norm parametrization after prepare_inference")
    if not torch.allclose(before, first, rtol=1e-4, atol=1e-5):
        worst = (before - first).abs().max().item()
        raise ContractError("weight_norm", f"removing weight norm changed the output (max difference {worst:.3g})")


def _check_parameters(model: Vocoder) -> None:
    counted = model.num_parameters()
    if counted <= 0:
        raise ContractError("parameters", "num_parameters() is 0: the generator must hold the audio-making modules")
    model.setup_training()  # discriminators and optimizers must not count
    if model.num_parameters() != counted:
        raise ContractError(
            "parameters", f"num_parameters() went from {counted} to {model.num_parameters()} after setup_training"
        )


def _check_training(cls, hyperparameters, mel, audio_shape) -> None:
    model = _build(cls, hyperparameters).train()
    model.setup_training()
    if not model.optimizers:
        raise ContractError("training_step", "setup_training left self.optimizers empty")
    audio = 0.3 * torch.randn(audio_shape, generator=torch.Generator().manual_seed(0))
    before = {name: p.detach().clone() for name, p in model.generator.named_parameters()}
    losses = model.training_step(audio, mel)
    if not losses or not all(isinstance(v, float) and math.isfinite(v) for v in losses.values()):
        raise ContractError("training_step", f"training_step must return finite float losses by name; got {losses!r}")
    if all(torch.equal(before[name], p) for name, p in model.generator.named_parameters()):
        raise ContractError("training_step", "a training step left every generator weight unchanged")
    # The checkpoint holds the model's and optimizers' states; a fresh run must take them back.
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizers": [o.state_dict() for o in model.optimizers]}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    resumed = _build(cls, hyperparameters).train()
    resumed.setup_training()
    try:
        resumed.load_state_dict(state["model"])
        for optimizer, optimizer_state in zip(resumed.optimizers, state["optimizers"], strict=True):
            optimizer.load_state_dict(optimizer_state)
    except Exception as err:
        raise ContractError(
            "checkpoint", f"a fresh model cannot load the trained state ({type(err).__name__}: {err})"
        ) from None
    if any(not torch.equal(p, model.state_dict()[name]) for name, p in resumed.state_dict().items()):
        raise ContractError("checkpoint", "the reloaded state differs from the saved one")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        check = resumed.generator_losses(audio, mel)
    if not check or not all(torch.is_tensor(v) and v.numel() == 1 and torch.isfinite(v) for v in check.values()):
        raise ContractError("generator_losses", f"must return finite scalar tensors by name; got {check!r}")
    resumed.training_step(audio, mel)  # training goes on after a resume


def _check_flops(model: Vocoder, mel: torch.Tensor) -> None:
    from vocoder_energy.cost.flops import count_generate_flops

    try:
        flops = count_generate_flops(copy.deepcopy(model), mel)["flops"]
    except Exception as err:
        detail = f"{type(err).__name__}: {err}"
        raise ContractError("flops", f"PyTorch's FLOP counter cannot run generate ({detail})") from None
    if flops <= 0:
        raise ContractError("flops", "the FLOP counter saw no matmul or convolution in generate")
