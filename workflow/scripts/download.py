from vocoder_energy.core.logs import job_log
from vocoder_energy.data.corpus import download

with job_log(snakemake.log[0]):
    p = snakemake.params
    download(p.url, snakemake.output[0], size_bytes=p.size_bytes, sha256=p.sha256)
