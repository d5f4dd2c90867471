from pathlib import Path

from vocoder_energy.core.logs import job_log
from vocoder_energy.data.corpus import make_synthetic_corpus

with job_log(snakemake.log[0]):
    make_synthetic_corpus(Path(snakemake.output[0]).parent, **snakemake.params.settings)
