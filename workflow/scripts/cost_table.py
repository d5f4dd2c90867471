from vocoder_energy.analysis.cost_table import cost_figure, cost_frame, write_cost_table
from vocoder_energy.core.logs import job_log

with job_log(snakemake.log[0]):
    o = snakemake.output
    frame = cost_frame(snakemake.params.jobs, snakemake.input.cost, snakemake.params.energy_basis)
    write_cost_table(frame, o.csv, o.md, o.html)
    cost_figure(frame, [o.svg, o.png])
