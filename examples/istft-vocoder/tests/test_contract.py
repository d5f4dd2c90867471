"""The family meets vocoder-energy's contract (what the workflow relies on), checked for real."""

from istft_vocoder import ISTFTVocoder

from vocoder_energy.testing import check_vocoder


def test_istft_vocoder_meets_the_contract():
    for size in ISTFTVocoder.presets:
        check_vocoder(ISTFTVocoder, size=size)
