"""The paper's own numbers (Tables 1 and 2) as data, and its Pareto analysis recomputed from them alone.

``reference/paper_tables.csv`` holds Table 1 (MOS with its +- value, D_STFT; ground truth included) and
Table 2 (parameters in millions, GFLOPs per 16,384-sample clip, generation energy) for the 18
configurations, plus the tables' asterisks (configurations the authors added to the original papers).

Energy unit: Table 2 labels E_gen in **mJ**, but the values (49-7834) are for generating 10 clips of 10 s
on an RTX A5000 with pyJoules; 49 mJ for 100 s of audio would mean a GPU drawing under a milliwatt, while
49 J is a few hundred milliseconds at GPU power. pyJoules reports GPU energy in mJ and CPU energy in uJ,
which makes a unit slip easy. So the values are read as **joules per 100 s of generated audio**
(``energy_j_per_100s_audio``); ``energy_reported`` keeps the printed number untouched.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import Path

import pandas as pd

from vocoder_energy.analysis.objectives import COSTS, quality_objectives
from vocoder_energy.analysis.pareto import pareto_analysis
from vocoder_energy.core.files import write_json, write_text
from vocoder_energy.listening.ratings import GROUND_TRUTH

ENERGY_UNIT_NOTE = "Table 2 prints mJ; read as J per 100 s of generated audio (10 clips x 10 s), see paper.py"

# Figure 2's objectives: MOS against GFLOPs and against energy.
MOS = quality_objectives()["mos"]
GFLOPS, ENERGY = COSTS["gflops"], COSTS["energy"]


def paper_tables() -> pd.DataFrame:
    """Tables 1 and 2, one row per configuration plus ground truth; energy also in J per 100 s of audio."""
    table = pd.read_csv(files("vocoder_energy") / "reference" / "paper_tables.csv", dtype={"size": str})
    table["size"] = table["size"].fillna("")
    table["energy_j_per_100s_audio"] = table["energy_reported"]  # the unit fix: mJ printed, J meant
    return table


@functools.cache
def paper_families() -> frozenset[str]:
    """The families the paper studied (the others, e.g. Vocos and BigVGAN, are marked "not in the paper")."""
    return frozenset(paper_tables()["model"]) - {GROUND_TRUTH}


def paper_points() -> pd.DataFrame:
    """The 18 configurations with the columns of the analysis: model, size, mos, gflops, energy, parameters."""
    table = paper_tables()
    table = table[table["model"] != GROUND_TRUTH].reset_index(drop=True)
    return pd.DataFrame(
        {
            "model": table["model"],
            "size": table["size"],
            "mos": table["mos"],
            "gflops": table["gflops"],
            "energy": table["energy_j_per_100s_audio"],
            "parameters_millions": table["parameters_millions"],
            "d_stft": table["d_stft"],
        }
    )


def paper_reference_analysis() -> tuple[pd.DataFrame, dict]:
    """The paper's Pareto analysis from its published numbers: MOS against GFLOPs and against energy."""
    analysed, volumes = pareto_analysis(paper_points(), MOS, [GFLOPS, ENERGY])
    ordered = ["model", "size", "mos", "gflops", "energy", "on_front_gflops", "on_front_energy"]
    rest = [c for c in analysed.columns if c not in ordered]
    return analysed[ordered + rest], volumes | {"energy_unit": ENERGY_UNIT_NOTE}


def write_paper_reference(pareto_csv: str | Path, hypervolume_json: str | Path, figure_paths: list) -> pd.DataFrame:
    """``pareto.csv``, the hypervolumes and Figure 2's two panels, from the published numbers alone."""
    from vocoder_energy.analysis.plots import pareto_figure

    analysed, volumes = paper_reference_analysis()
    write_text(analysed.to_csv(index=False), pareto_csv)
    write_json(volumes, hypervolume_json)
    pareto_figure(
        analysed,
        MOS,
        [GFLOPS, ENERGY],
        figure_paths,
        title="The paper's Figure 2, recomputed from its Tables 1 and 2",
    )
    return analysed
