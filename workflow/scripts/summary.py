from vocoder_energy.analysis.summary import build_summary
from vocoder_energy.core.logs import job_log

with job_log(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    build_summary(
        p.jobs,
        i.origin,
        i.quality,
        i.cost,
        snakemake.output[0],
        energy_basis=p.energy_basis,
        carbon_intensity=p.carbon_intensity,
    )
