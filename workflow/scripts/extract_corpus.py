from pathlib import Path

from vocoder_energy.core.logs import job_log
from vocoder_energy.data.archive import check_archive
from vocoder_energy.data.corpus import extract_corpus

with job_log(snakemake.log[0]):
    if snakemake.params.local:
        check_archive(snakemake.input.archive, snakemake.params.size_bytes, snakemake.params.sha256)
    extract_corpus(snakemake.input.archive, Path(snakemake.output[0]).parent, expected_clips=snakemake.params.clips)
