from vocoder_energy.logs import job_log
from vocoder_energy.summary import build_summary

with job_log(snakemake.log[0]):
    i = snakemake.input
    build_summary(snakemake.params.jobs, i.train, i.quality, i.cost, snakemake.output[0])
