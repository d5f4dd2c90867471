from vocoder_energy.analysis.runs import runs_figure
from vocoder_energy.core.logs import job_log

with job_log(snakemake.log[0]):
    i, o = snakemake.input, snakemake.output
    runs_figure(i.pareto, i.hypervolume, snakemake.params.costs, snakemake.params.overlay_paper, [o.svg, o.png])
