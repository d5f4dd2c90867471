from vocoder_energy.analysis.loss_figures import model_figure, overview_figure
from vocoder_energy.core.logs import job_log

with job_log(snakemake.log[0]):
    names = [f"{model}_{size}" for model, size in snakemake.params.jobs]
    for name, log, figure in zip(names, snakemake.input.losses, snakemake.output.models, strict=True):
        model_figure(name, log, figure)
    overview_figure(dict(zip(names, snakemake.input.losses)), [snakemake.output.png, snakemake.output.svg])
