from vocoder_energy.logs import job_log
from vocoder_energy.plots import pareto_figure
from vocoder_energy.summary import read_summary

with job_log(snakemake.log[0]):
    pareto_figure(read_summary(snakemake.input.summary), [snakemake.output.svg, snakemake.output.png])
