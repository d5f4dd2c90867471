import json

import pandas as pd

from vocoder_energy.analysis import COSTS, quality_objectives
from vocoder_energy.logs import job_log
from vocoder_energy.paper import paper_reference_analysis
from vocoder_energy.plots import pareto_figure

with job_log(snakemake.log[0]):
    runs = pd.read_csv(snakemake.input.pareto, dtype={"size": str})
    quality = quality_objectives()[json.loads(open(snakemake.input.hypervolume).read())["quality"]]
    ci = (f"{quality.column}_ci_low", f"{quality.column}_ci_high")
    overlay = paper_reference_analysis()[0] if snakemake.params.overlay_paper else None
    pareto_figure(
        runs,
        quality,
        [COSTS[c] for c in snakemake.params.costs],
        [snakemake.output.svg, snakemake.output.png],
        quality_ci=ci if set(ci) <= set(runs.columns) else None,
        method_columns={"energy": "energy_method"},
        overlay=overlay,
    )
