import pandas as pd

from vocoder_energy.analysis.agreement import write_agreement
from vocoder_energy.analysis.runs import runs_frame
from vocoder_energy.core.logs import job_log

with job_log(snakemake.log[0]):
    summary = pd.read_csv(snakemake.input.summary, dtype={"size": str})
    mos = pd.read_csv(snakemake.input.mos, dtype={"size": str}, keep_default_na=False, na_values=[""])
    correlations = write_agreement(
        runs_frame(summary, mos),
        snakemake.output.systems,
        snakemake.output.correlations,
        snakemake.output.figure,
        resamples=snakemake.params.resamples,
    )
    print(correlations.to_string(index=False))
