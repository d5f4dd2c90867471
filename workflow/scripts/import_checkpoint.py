from vocoder_energy.core.logs import job_log
from vocoder_energy.models.released import import_released

with job_log(snakemake.log[0]):
    p = snakemake.params
    provenance = import_released(
        snakemake.input.checkpoint,
        p.format,
        p.features,
        snakemake.wildcards.size,
        snakemake.output.generator,
        snakemake.output.provenance,
        p.options,
    )
    print(
        f"{provenance['project']} {provenance['checkpoint']} -> {snakemake.wildcards.model} {snakemake.wildcards.size}"
    )
    for key, why in provenance["dropped"].items():
        print(f"dropped {key}: {why}")
    for note in provenance["notes"]:
        print(f"note: {note}")
