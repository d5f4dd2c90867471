from vocoder_energy.analysis.paper import write_paper_reference
from vocoder_energy.core.logs import job_log

with job_log(snakemake.log[0]):
    o = snakemake.output
    analysed = write_paper_reference(o.pareto, o.hypervolume, [o.svg, o.png])
    print(analysed.to_string())
