"""An energy card per model: one page, from the energy dataset's rows, that a researcher can paste into an
appendix: the weights, the machine and its software, every setting's energy, FLOPs, speed and quality,
the settings this machine could not run, and the best setting against the paper's.

The card is built once as blocks (headings, paragraphs, tables, lists, an image) and written twice: as
Markdown and as a standalone HTML page.
"""

from __future__ import annotations

import html
from pathlib import Path

from vocoder_energy.core.files import write_text
from vocoder_energy.deployment.dataset import COST_JOB, SWEEP, load_dataset
from vocoder_energy.deployment.settings import PAPER

ENERGY = "energy_joules_per_audio_second"


def _number(value, digits: int = 3) -> str:
    return "unavailable" if value is None else f"{value:.{digits}g}"


def _energy_ci(row: dict):
    """The 95 % half-width of the energy on the row's own basis (gross or net)."""
    return row[f"energy_{row['energy_basis']}_joules_per_audio_second_ci95"]


def _energy_cell(row: dict) -> str:
    if row[ENERGY] is None:
        return "unavailable"
    ci = _energy_ci(row)
    text = _number(row[ENERGY]) + ("" if ci is None else f" ± {ci:.2g}")
    return text + (" (estimated)" if row["energy_method"] == "estimated" else "")


def _stable_cell(row: dict) -> str:
    if row["stable"] is None:
        return "not assessed"
    return "yes" if row["stable"] else f"no: {row['unstable_reasons']}"


def _settings_table(rows: list[dict], basis: str) -> tuple:
    header = [
        "Setting",
        "Measured in",
        f"J per s of audio ({basis}) ± 95 % CI",
        "GFLOPs per s of audio",
        "Real-time factor",
        "D_STFT",
        "D_STFT from",
        "Stable",
    ]
    body = [
        [
            row["setting_label"],
            "the cost job" if row["measurement"] == COST_JOB else "the sweep",
            _energy_cell(row),
            _number(row["gflops_per_audio_second"], 4),
            _number(row["real_time_factor"]),
            _number(row["d_stft"], 4),
            row["quality_source"] or "",
            _stable_cell(row),
        ]
        for row in rows
        if row["status"] == "measured"
    ]
    return ("table", header, body)


def _baseline(rows: list[dict]) -> dict | None:
    """The paper's setting measured in the same sweep when there is one (a ratio within one sitting),
    else the cost job's."""
    measurement = SWEEP if any(r["measurement"] == SWEEP for r in rows) else COST_JOB
    return next(
        (
            r
            for r in rows
            if r["measurement"] == measurement and r["status"] == "measured" and r["setting"] == PAPER.name
        ),
        None,
    )


def best_setting(rows: list[dict]) -> tuple[dict | None, bool]:
    """The lowest energy per second of audio among the measured stable settings of one machine (of the
    sweep when there is one), else among the measured ones; and whether it was chosen among stable ones."""
    measurement = SWEEP if any(r["measurement"] == SWEEP for r in rows) else COST_JOB
    measured = [
        r for r in rows if r["measurement"] == measurement and r["status"] == "measured" and r[ENERGY] is not None
    ]
    stable = [r for r in measured if r["stable"] is True]
    pool = stable or measured
    return (min(pool, key=lambda r: r[ENERGY]) if pool else None), bool(stable)


def _best_paragraphs(rows: list[dict], basis: str) -> list[tuple]:
    best, among_stable = best_setting(rows)
    if best is None:
        return [("p", f"No setting has an energy on the {basis} basis on this machine: there is no best setting.")]
    blocks = []
    if not among_stable:
        blocks.append(
            ("p", "No measured setting was judged stable: the best below is the lowest among all measured ones.")
        )
    estimated = " (estimated)" if best["energy_method"] == "estimated" else ""
    text = f"{best['setting_label']} ({best['setting']}): {_number(best[ENERGY])} J per second of audio{estimated}."
    baseline = _baseline(rows)
    where = "measured in the same sweep" if baseline and baseline["measurement"] == SWEEP else "the cost job"
    if baseline is None or baseline[ENERGY] is None:
        text += f" The paper's setting has no energy on the {basis} basis here: no ratio."
    elif baseline is best:
        others = "stable setting" if among_stable else "measured setting"
        text += f" It is the paper's setting ({where}): no other {others} used less energy."
    elif baseline["energy_method"] != best["energy_method"]:
        text += " One of it and the paper's setting is measured, the other estimated: no ratio is given."
    else:
        ratio = best[ENERGY] / baseline[ENERGY]
        text += (
            f" That is {ratio:.3g} × the paper's setting ({baseline['setting_label']}, {where}: "
            f"{_number(baseline[ENERGY])} J per second of audio), {abs(1 - ratio):.0%} "
            f"{'less' if ratio < 1 else 'more'} energy."
        )
        best_ci, baseline_ci = _energy_ci(best), _energy_ci(baseline)
        if best_ci is not None and baseline_ci is not None and baseline[ENERGY] - best[ENERGY] <= best_ci + baseline_ci:
            text += " The two 95 % intervals overlap: the saving is within the measurement's uncertainty."
        if baseline["stable"] is False:
            text += " The paper's setting was itself not stable here, which makes the ratio less certain."
        if best["energy_method"] == "estimated":
            text += " Both energies are estimated (assumed watts × time), so the ratio is a ratio of run times."
    if baseline is not None and best["precision"] != baseline["precision"]:
        if best["d_stft"] is None or baseline["d_stft"] is None:
            text += " The D_STFT change is unavailable (a quality document lacks it)."
        else:
            change = best["d_stft"] - baseline["d_stft"]
            text += (
                f" Its precision changes the audio: D_STFT {baseline['d_stft']:.4g} → {best['d_stft']:.4g} "
                f"({change:+.3g}; {best['quality_source']} against {baseline['quality_source']})."
            )
    return [*blocks, ("p", text)]


def _machine_paragraph(rows: list[dict]) -> str:
    first = next(r for r in rows if r["device"] is not None)
    gpu = "none" if first["gpu"] is None else f"{first['gpu']} (driver {first['gpu_driver'] or 'unknown'})"
    dates = sorted({r["measured_at"][:10] for r in rows if r["measured_at"]})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}" if dates else "unknown"
    return (
        f"Device {first['device']}; GPU: {gpu}; CPU: {first['cpu']} ({first['cpu_count']} logical CPUs). "
        f"torch {first['torch']}, CUDA {first['cuda'] or 'none (a CPU build)'}, Python {first['python']}. "
        f"Measured {when} (UTC)."
    )


def card_blocks(rows: list[dict], trace_figure: str | None = None) -> list[tuple]:
    """The card of one model (its dataset rows) as blocks: ("h1"|"h2"|"p", text), ("table", header, rows),
    ("list", items), ("image", alt, path)."""
    models = {(r["model"], r["size"]) for r in rows}
    if len(models) != 1:
        raise ValueError(f"an energy card is of one model; these rows hold {len(models)}: {sorted(models)}")
    (model, size), first = models.pop(), rows[0]
    weights = "trained here" if first["weights"] == "trained" else f"released: {first['weights_origin']}"
    parameters = "unknown" if first["parameters"] is None else f"{first['parameters']:,}"
    blocks = [
        ("h1", f"Energy card: {model} {size}"),
        ("p", f"Weights: {weights}. Parameters: {parameters}. Sample rate: {first['sample_rate_hz']} Hz."),
    ]
    basis = next((r["energy_basis"] for r in rows if r["energy_basis"]), "gross")
    explanation = (
        f"Energy is {basis} joules per second of generated audio, ± the half-width of its 95 % confidence "
        "interval across measured windows; GFLOPs are counted."
    )
    if any(r["energy_method"] == "estimated" for r in rows):
        explanation += " Estimated energy is assumed watts × run time, not a measurement."
    blocks.append(("p", explanation))
    hardware = list(dict.fromkeys(r["hardware"] for r in rows))
    for machine in hardware:
        here = [r for r in rows if r["hardware"] == machine]
        blocks.append(("h2", f"On {machine or 'unknown hardware'}"))
        if any(r["device"] is not None for r in here):
            blocks.append(("p", _machine_paragraph(here)))
        blocks.append(_settings_table(here, basis))
        skipped = [r for r in here if r["status"] == "skipped"]
        if skipped:
            blocks.append(("p", "Settings this machine could not run:"))
            blocks.append(("list", [f"{r['setting_label']}: {r['skip_reason']}" for r in skipped]))
        blocks.append(("p", "The best setting (lowest energy per second of audio among stable ones):"))
        blocks.extend(_best_paragraphs(here, basis))
    if trace_figure is not None:
        blocks.append(("h2", "Power trace"))
        blocks.append(("image", f"Power trace of {model} {size}'s measured windows", trace_figure))
    return blocks


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(blocks: list[tuple]) -> str:
    parts = []
    for kind, *content in blocks:
        if kind == "h1":
            parts.append(f"# {content[0]}")
        elif kind == "h2":
            parts.append(f"## {content[0]}")
        elif kind == "p":
            parts.append(content[0])
        elif kind == "list":
            parts.append("\n".join(f"- {item}" for item in content[0]))
        elif kind == "table":
            header, body = content
            lines = ["| " + " | ".join(map(_markdown_cell, header)) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(map(_markdown_cell, row)) + " |" for row in body]
            parts.append("\n".join(lines))
        elif kind == "image":
            parts.append(f"![{content[0]}]({content[1]})")
    return "\n\n".join(parts) + "\n"


def to_html(blocks: list[tuple]) -> str:
    title = next(content[0] for kind, *content in blocks if kind == "h1")
    parts = []
    for kind, *content in blocks:
        if kind in ("h1", "h2", "p"):
            parts.append(f"<{kind}>{html.escape(content[0])}</{kind}>")
        elif kind == "list":
            parts.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in content[0]) + "</ul>")
        elif kind == "table":
            header, body = content
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "image":
            alt, src = map(html.escape, content)
            parts.append(f'<p><a href="{src}"><img src="{src}" alt="{alt}" style="max-width:100%"></a></p>')
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}</style>"
        "</head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def energy_card(rows: list[dict], trace_figure: str | None = None) -> str:
    """The Markdown card of one model's dataset rows; ``trace_figure``: a relative path to its power trace."""
    return to_markdown(card_blocks(rows, trace_figure))


def write_cards(dataset_csv: str | Path, out_dir: str | Path, jobs: list[tuple[str, str]]) -> list[Path]:
    """``{model}_{size}.md`` and ``.html`` in ``out_dir`` per job, with the job's power trace figure
    (``../figures/traces/{model}_{size}.png`` from ``out_dir``) where it exists."""
    rows, out_dir = load_dataset(dataset_csv), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for model, size in jobs:
        job_rows = [r for r in rows if r["model"] == model and r["size"] == size]
        if not job_rows:
            raise ValueError(f"{dataset_csv}: no rows for {model}_{size}, so no energy card")
        trace = f"../figures/traces/{model}_{size}.png"
        blocks = card_blocks(job_rows, trace if (out_dir / trace).is_file() else None)
        for suffix, render in ((".md", to_markdown), (".html", to_html)):
            path = out_dir / f"{model}_{size}{suffix}"
            write_text(render(blocks), path)
            written.append(path)
    return written
