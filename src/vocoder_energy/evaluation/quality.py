"""Quality of generated audio against the reference: D_STFT as the paper's authors computed it
(``spectral_distance``), beside the objective metrics of ``metrics``, per utterance and aggregated."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from vocoder_energy.core.intervals import t_interval
from vocoder_energy.evaluation.clips import GeneratedClips
from vocoder_energy.evaluation.metrics import (
    D_STFT_COLUMNS,
    METRICS,
    SAMPLE_RATE,
    Column,
    check_packages,
    columns,
    reference_free,
    score_clips,
)
from vocoder_energy.evaluation.spectral_distance import d_stft, d_stft_multiscale


def evaluate_quality(
    reference: np.ndarray,
    generated: np.ndarray,
    ids=None,
    metrics=(),
    multiscale: bool = False,
    sample_rate: int = SAMPLE_RATE,
    options: dict[str, dict] | None = None,
) -> dict:
    """Every quality metric of this stage, per utterance and aggregated (mean and 95 % t-interval over
    utterances), each with its unit, direction and method.

    D_STFT over the whole batch is the paper's number (the mean of the per-clip values, as all clips have
    one length). Non-finite generated samples (a diverged model) make the scores NaN and are counted, not
    hidden. ``metrics`` names entries of ``vocoder_energy.evaluation.metrics.METRICS``; their packages are checked
    before any work. ``options``: per metric name (evaluation.local_mos).
    """
    check_packages(metrics)
    reference, generated = np.asarray(reference), np.asarray(generated)
    ids = [str(i) for i in (ids if ids is not None else range(len(reference)))]
    chosen = [D_STFT_COLUMNS["d_stft"]] + ([D_STFT_COLUMNS["d_stft_multiscale"]] if multiscale else [])
    chosen += columns(metrics)
    rows = []
    for utterance, ref, gen in tqdm(
        list(zip(ids, reference, generated, strict=True)), desc="quality", unit=" clips", disable=len(ids) < 4
    ):
        row = {"utterance": utterance, "d_stft": d_stft(ref, gen)}
        if multiscale:
            row["d_stft_multiscale"] = d_stft_multiscale(ref, gen)
        rows.append(row)
    for row, scores in zip(rows, score_clips(list(reference), list(generated), metrics, sample_rate, options)):
        row.update(scores)
    aggregated = aggregate(rows, chosen)
    return {
        "non_finite_samples": int(np.size(generated) - np.isfinite(generated).sum()),
        "d_stft": {
            "value": d_stft(reference, generated),
            "unit": "ln-power distance",
            "method": "measured",
            "definition": "mean |ln(1+|X|^2) - ln(1+|Y|^2)|, n_fft 1024, hop 256, Hann, centred",
        },
        "metrics": aggregated,
        "utterances": rows,
        "clips": int(len(reference)),
    }


def evaluate_clips(
    clips: GeneratedClips, metrics=(), multiscale: bool = False, options: dict[str, dict] | None = None
) -> dict:
    """Every metric at the common rate (``SAMPLE_RATE``, 16 kHz: what the cross-model tables compare, and
    what PESQ and DNSMOS need), plus ``at_model_rate``: D_STFT and the metrics defined at any rate, against
    the ground truth at the model's own rate (22.05 kHz for most released checkpoints). For a model at
    16 kHz the two are the same numbers."""
    common = clips.at_rate(SAMPLE_RATE)
    result = evaluate_quality(common.reference, common.generated, common.ids, metrics, multiscale, SAMPLE_RATE, options)
    own_rate = [name for name in metrics if METRICS[name].any_rate]
    if clips.sample_rate == SAMPLE_RATE:
        at_model = {"d_stft": result["d_stft"]["value"], "metrics": {m: result["metrics"][m] for m in _names(own_rate)}}
    else:
        native = evaluate_quality(clips.reference, clips.generated, clips.ids, own_rate, False, clips.sample_rate)
        at_model = {"d_stft": native["d_stft"]["value"], "metrics": native["metrics"]}
        at_model["metrics"].pop("d_stft")
    return result | {
        "sample_rate": SAMPLE_RATE,
        "model_sample_rate": clips.sample_rate,
        "at_model_rate": {"sample_rate": clips.sample_rate} | at_model,
    }


def _names(metrics: list[str]) -> list[str]:
    return [column.name for column in columns(metrics)]


def aggregate(rows: list[dict], chosen: list[Column]) -> dict:
    """Each column's mean and 95 % t-interval over the utterances, with its unit, direction and definition."""
    return {
        column.name: t_interval([row[column.name] for row in rows])
        | {
            "unit": column.unit,
            "higher_is_better": column.higher_is_better,
            "definition": column.description,
            "method": "measured",
        }
        for column in chosen
    }


def evaluate_ground_truth(
    reference: np.ndarray, ids, metrics=(), sample_rate: int = SAMPLE_RATE, options: dict[str, dict] | None = None
) -> dict:
    """The reference-free metrics among ``metrics`` (MOS predictors) on the references themselves: what a
    perfect vocoder would score, the ceiling of the generated clips' columns. Other metrics are left out."""
    free = reference_free(metrics)
    check_packages(free)
    scored = score_clips(list(reference), list(reference), free, sample_rate, options)
    rows = [{"utterance": str(utterance)} | scores for utterance, scores in zip(ids, scored, strict=True)]
    return {"metrics": aggregate(rows, columns(free)), "utterances": rows, "clips": len(rows)}
