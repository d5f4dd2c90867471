from pathlib import Path

from vocoder_energy.core.logs import job_log
from vocoder_energy.deployment.dataset import load_dataset
from vocoder_energy.deployment.figures import setting_pareto_figure

with job_log(snakemake.log[0]):
    setting_pareto_figure(load_dataset(snakemake.input.dataset), Path(snakemake.output[0]).with_suffix(""))
