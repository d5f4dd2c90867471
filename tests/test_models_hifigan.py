import pytest
import torch
from torch.nn.utils import parametrize

from vocoder_energy.data.audio import mel_spectrogram
from vocoder_energy.models import build_vocoder, check_hyperparameters

TABLE_2 = {"S": 928_514, "M": 1_464_322, "L": 13_936_130}  # V2, V3, V1 with weight norm


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_parameter_counts_match_table_2_and_survive_generation(size):
    model = build_vocoder("hifigan", size)
    assert model.num_parameters() == TABLE_2[size]
    audio = model.generate(torch.rand(2, 80, 5))
    assert audio.shape == (2, 5 * 256)
    assert torch.isfinite(audio).all() and audio.abs().max() <= 1
    assert model.num_parameters() == TABLE_2[size]
    assert not any(parametrize.is_parametrized(m) for m in model.generator.modules())


@pytest.mark.parametrize("size", ["S", "M"])
def test_in_place_receptive_field_fusion_equals_the_plain_mean(size):
    """The speed-minded fusion (accumulate in place, divide in place) gives bit for bit the plain mean,
    with and without autograd; the residual blocks give x + conv2(lrelu(conv1(lrelu(x))))."""
    torch.manual_seed(0)
    gen = build_vocoder("hifigan", size).generator
    k = gen.num_kernels
    x = torch.randn(1, gen.ups[0].out_channels, 40)
    blocks = gen.resblocks[:k]
    expected = sum(block(x) for block in blocks) / k
    assert torch.equal(gen.fuse(x, blocks), expected)
    with torch.inference_mode():
        assert torch.equal(gen.fuse(x, blocks), expected)
    x.requires_grad_(True)
    gen.fuse(x, blocks).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    block = blocks[0]
    if size == "S":  # ResBlock1, one branch written out
        y = x.detach()
        for conv1, conv2 in zip(block.convs1, block.convs2):
            lrelu = torch.nn.functional.leaky_relu
            y = y + conv2(lrelu(conv1(lrelu(y, 0.1)), 0.1))
        assert torch.equal(block(x.detach()), y)


def test_star_import_of_the_models_package_works():
    namespace: dict = {}
    exec("from vocoder_energy.models import *", namespace)
    assert {"build_vocoder", "REGISTRY", "SIZES", "Vocoder", "check_inference_options"} <= set(namespace)


def test_inference_never_builds_discriminators():
    model = build_vocoder("hifigan", "S")
    model.generate(torch.rand(1, 80, 2))
    assert not hasattr(model, "discriminators")


def test_unknown_size_and_hyperparameter_are_named():
    with pytest.raises(ValueError, match="unknown size 'XL'"):
        build_vocoder("hifigan", "XL")
    with pytest.raises(ValueError, match=r"models\.hifigan\.S: unknown hyperparameter\(s\) channels"):
        check_hyperparameters("hifigan", "S", {"channels": 3})
    with pytest.raises(ValueError, match="unknown vocoder family 'wavenet'"):
        build_vocoder("wavenet", "S")
    with pytest.raises(ValueError, match="multiply to 128"):
        build_vocoder("hifigan", "S", upsample_rates=[8, 8, 2])


def test_training_lowers_the_mel_distance_on_a_fixed_batch():
    torch.manual_seed(0)
    model = build_vocoder("hifigan", "S", upsample_initial_channel=32, learning_rate=1e-3)
    model.setup_training()
    t = torch.arange(8 * 256) / 16000
    audio = torch.stack([0.5 * torch.sin(2 * torch.pi * 220 * t), 0.3 * torch.sin(2 * torch.pi * 330 * t)])
    mel = torch.log1p(mel_spectrogram(audio))

    def distance():
        with torch.no_grad():
            fake = model.generator(mel).squeeze(1)
        return (model._loss_mel(fake) - model._loss_mel(audio)).abs().mean().item()  # the loss's own mel

    before = distance()
    for _ in range(4):
        losses = model.training_step(audio, mel)
    assert set(losses) == {"loss_d", "loss_g", "loss_mel", "loss_fm", "loss_adv"}
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert distance() < 0.85 * before
