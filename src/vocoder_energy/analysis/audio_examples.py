"""Listening examples for the Snakemake report: one self-contained HTML page whose players hold the WAVs
as data URIs (the report shows HTML results inline, so the clips play inside report.html)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import soundfile as sf

from vocoder_energy.analysis.plots import label
from vocoder_energy.core.files import write_text
from vocoder_energy.evaluation.clips import load_clips


def wav_data_uri(audio: np.ndarray, sample_rate: int) -> str:
    """16-bit PCM WAV of ``audio`` (clipped to [-1, 1]) as a ``data:audio/wav;base64`` URI."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _player(audio: np.ndarray, sample_rate: int) -> str:
    if not np.all(np.isfinite(audio)):
        return "<em>not playable: non-finite samples (diverged model)</em>"
    return f'<audio controls preload="none" src="{wav_data_uri(audio, sample_rate)}"></audio>'


def audio_examples_page(
    generated: dict[tuple[str, str], str | Path], out_html: str | Path, examples: int, sample_rate: int = 16000
) -> int:
    """A table of the first ``examples`` test clips: ground truth, then each model's generation.

    ``generated`` maps (model, size) to the generate rule's clips file (``evaluation.clips``); every clip
    plays at ``sample_rate`` (a released model's own rate is resampled to it).
    Returns the number of clips per model on the page.
    """
    columns, reference, ids = [], None, None
    for (model, size), path in generated.items():
        clips = load_clips(path, sample_rate)
        columns.append((label(model, size), clips.generated[:examples]))
        if reference is None or len(clips.reference) > len(reference):
            reference, ids = clips.reference[:examples], clips.ids[:examples]
    count = 0 if reference is None else len(reference)
    head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in columns)
    rows = []
    for i in range(count):
        cells = [f"<td>{html.escape(ids[i])}</td>", f"<td>{_player(reference[i], sample_rate)}</td>"]
        for _, audio in columns:
            cells.append(f"<td>{_player(audio[i], sample_rate)}</td>" if i < len(audio) else "<td></td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Listening examples</title>"
        "<style>body{font-family:sans-serif}td,th{padding:4px 8px;border-bottom:1px solid #ddd}"
        "audio{width:220px}</style></head><body>"
        f"<p>The first {count} test clips: the ground truth, then each model's generation from its mel "
        "spectrogram (at the native level, clipped to [-1, 1]).</p>"
        f"<table><tr><th>clip</th><th>ground truth</th>{head}</tr>{''.join(rows)}</table></body></html>",
        out_html,
    )
    return count
