from pathlib import Path

from vocoder_energy.core.logs import job_log
from vocoder_energy.deployment.card import write_cards

with job_log(snakemake.log[0]):
    written = write_cards(
        snakemake.input.dataset,
        Path(snakemake.output.markdown[0]).parent,
        [tuple(job) for job in snakemake.params.jobs],
    )
    print("\n".join(map(str, written)))
