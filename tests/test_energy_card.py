"""The energy card: one model's settings on one page, the best setting against the paper's with its
ratio, estimated energy labelled, skipped settings with their reasons, written as Markdown and HTML."""

import copy
import html

import pytest
from test_energy_dataset import entry, on_machine, pinned, pinned_sweep, real_documents

from vocoder_energy.deployment.card import best_setting, energy_card, write_cards
from vocoder_energy.deployment.dataset import dataset_rows, write_dataset

JOULES = {"fp32": 2.0, "fp32-b1": 3.0, "bf16": 1.0}


def card_rows(stable: dict | None = None, method: str = "estimated", with_sweep: bool = True) -> list[dict]:
    cost, sweep = real_documents()
    pinned(cost, 2.5, method=method)
    for point in sweep["points"]:
        if point["cost"]:
            point["cost"]["energy"]["method"] = method
    sweep = pinned_sweep(sweep, JOULES, stable) if with_sweep else None
    return dataset_rows([entry(cost, sweep)], energy_basis="gross")


def test_the_card_names_the_best_setting_its_ratio_and_its_quality_change():
    card = energy_card(card_rows())
    assert card.startswith("# Energy card: hifigan S\n")
    assert "Weights: trained here. Parameters: " in card
    # bf16 at 1.0 J against the sweep's own fp32 at 2.0 J (not the cost job's 2.5 J: another sitting).
    assert (
        "bf16, all clips per call (bf16): 1 J per second of audio (estimated). That is 0.5 × the paper's setting "
        "(fp32, all clips per call, measured in the same sweep: 2 J per second of audio), 50% less energy." in card
    )
    assert "the ratio is a ratio of run times" in card
    assert "D_STFT 0.5 → 0.52 (+0.02; this setting's own bf16 test clips against the model's fp32 test clips)" in card
    assert "- fp32, all clips per call, cuda graphs: CUDA graphs need a GPU; this job runs on cpu" in card
    assert "| bf16, all clips per call | the sweep | 1 ± 0.01 (estimated) |" in card
    assert "| fp32, all clips per call | the cost job | 2.5 ± 0.025 (estimated) |" in card
    assert "torch 2." in card and "CUDA none (a CPU build)" in card and "GPU: none" in card


def test_measured_energy_is_not_called_estimated():
    card = energy_card(card_rows(method="measured"))
    assert "estimated" not in card
    assert "0.5 × the paper's setting" in card


def test_an_unstable_setting_is_not_the_best_unless_none_is_stable():
    rows = card_rows(stable={"bf16": False})
    best, among_stable = best_setting(rows)
    assert (best["setting"], best["measurement"], among_stable) == ("fp32", "sweep", True)
    card = energy_card(rows)
    assert "It is the paper's setting (measured in the same sweep): no other stable setting used less energy." in card
    assert "| no: energy per workload spreads 30.0% |" in card

    rows = card_rows(stable=dict.fromkeys(JOULES, False))
    best, among_stable = best_setting(rows)
    assert (best["setting"], among_stable) == ("bf16", False)
    card = energy_card(rows)
    assert "No measured setting was judged stable: the best below is the lowest among all measured ones." in card
    assert "The paper's setting was itself not stable here" in card


def test_without_a_sweep_the_cost_job_is_the_paper_s_setting():
    card = energy_card(card_rows(with_sweep=False))
    assert (
        "fp32, all clips per call (fp32): 2.5 J per second of audio (estimated). "
        "It is the paper's setting (the cost job)" in card
    )
    assert "could not run" not in card


def test_each_machine_has_its_own_section_and_best_setting():
    rows = card_rows()
    elsewhere = copy.deepcopy(rows)
    for row in elsewhere:
        row |= {"hardware": "NVIDIA H100", "gpu": "NVIDIA H100", "gpu_driver": "550.54", "device": "cuda"}
    card = energy_card(rows + elsewhere)
    assert card.count("0.5 × the paper's setting") == 2
    assert "## On NVIDIA H100" in card and "GPU: NVIDIA H100 (driver 550.54)" in card
    with pytest.raises(ValueError, match="an energy card is of one model"):
        energy_card(rows + [rows[0] | {"model": "melgan"}])


def test_cards_are_written_as_markdown_and_standalone_html_with_the_trace(tmp_path):
    cost, sweep = real_documents()
    melgan = on_machine(pinned(copy.deepcopy(cost), 1.5), "AMD EPYC")
    rows = dataset_rows(
        [entry(pinned(cost, 2.5), pinned_sweep(sweep, JOULES)), entry(melgan, None, model="melgan")], "gross"
    )
    write_dataset(rows, tmp_path / "energy_dataset.csv")
    (tmp_path / "figures" / "traces").mkdir(parents=True)
    (tmp_path / "figures" / "traces" / "hifigan_S.png").write_bytes(b"\x89PNG")
    out = tmp_path / "cards"
    written = write_cards(tmp_path / "energy_dataset.csv", out, [("hifigan", "S"), ("melgan", "S")])
    assert written == [out / "hifigan_S.md", out / "hifigan_S.html", out / "melgan_S.md", out / "melgan_S.html"]
    markdown = (out / "hifigan_S.md").read_text()
    assert markdown.endswith("![Power trace of hifigan S's measured windows](../figures/traces/hifigan_S.png)\n")
    assert "Power trace" not in (out / "melgan_S.md").read_text()  # no figure: no broken link
    page = (out / "hifigan_S.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert '<img src="../figures/traces/hifigan_S.png"' in page
    assert "<th>Setting</th>" in page and "<td>bf16, all clips per call</td>" in page
    assert "<li>fp32, all clips per call, cuda graphs: CUDA graphs need a GPU; this job runs on cpu</li>" in page
    assert html.escape("0.5 × the paper's setting") in page
    with pytest.raises(ValueError, match="energy_dataset.csv: no rows for wavegrad_S"):
        write_cards(tmp_path / "energy_dataset.csv", out, [("wavegrad", "S")])


def _edited(rows: list[dict], setting: str, **changes) -> list[dict]:
    """``rows`` with the sweep's row of ``setting`` changed."""
    return [r | changes if (r["measurement"], r["setting"]) == ("sweep", setting) else r for r in rows]


def test_the_card_says_what_makes_a_ratio_uncertain_or_impossible():
    rows = card_rows()
    wide = _edited(rows, "bf16", energy_gross_joules_per_audio_second_ci95=0.6)
    wide = _edited(wide, "fp32", energy_gross_joules_per_audio_second_ci95=0.5)
    assert "The two 95 % intervals overlap: the saving is within the measurement's uncertainty." in energy_card(wide)
    assert "overlap" not in energy_card(rows)

    mixed = energy_card(_edited(rows, "bf16", energy_method="measured"))
    assert "One of it and the paper's setting is measured, the other estimated: no ratio is given." in mixed
    assert "× the paper's setting" not in mixed

    no_baseline = energy_card(_edited(rows, "fp32", energy_joules_per_audio_second=None))
    assert "The paper's setting has no energy on the gross basis here: no ratio." in no_baseline
    assert "| fp32, all clips per call | the sweep | unavailable |" in no_baseline

    no_quality = energy_card(_edited(rows, "bf16", d_stft=None))
    assert "The D_STFT change is unavailable (a quality document lacks it)." in no_quality

    # Estimated energy has no net part: on the net basis nothing has an energy to compare.
    cost, sweep = real_documents()
    net = energy_card(dataset_rows([entry(cost, pinned_sweep(sweep, JOULES))], energy_basis="net"))
    assert "No setting has an energy on the net basis on this machine: there is no best setting." in net
