import json
from pathlib import Path

import pandas as pd

from vocoder_energy.analysis.runs import analyse_runs
from vocoder_energy.analysis.tables import table1, table2, write_table
from vocoder_energy.core.logs import job_log

with job_log(snakemake.log[0]):
    i, o = snakemake.input, snakemake.output
    mos_csv = i.mos[0] if i.mos else None
    runs, quality, costs = analyse_runs(
        i.summary, mos_csv, snakemake.params.quality, snakemake.params.costs, o.pareto, o.hypervolume
    )
    mos = pd.read_csv(mos_csv, dtype={"size": str}, keep_default_na=False, na_values=[""]) if mos_csv else None
    write_table(
        table1(runs, mos, json.loads(Path(i.ground_truth[0]).read_text()) if i.ground_truth else None),
        *o.table1,
        o.table1_html,
        "Table 1 counterpart: quality per run, the paper's values in paper_* columns. Every quality column "
        "compares against the ground truth at 16 kHz, the common rate (released checkpoints' audio resampled to "
        "it); d_stft_at_model_rate compares at the model's own rate, sample_rate_hz.",
    )
    write_table(
        table2(runs),
        *o.table2,
        o.table2_html,
        "Table 2 counterpart: cost per run (energy in J per 100 s of audio generated at the model's own rate, "
        "sample_rate_hz), the paper's values in paper_* columns.",
    )
