from vocoder_energy.analysis.audio_examples import audio_examples_page
from vocoder_energy.core.logs import job_log

with job_log(snakemake.log[0]):
    generated = dict(zip(map(tuple, snakemake.params.jobs), snakemake.input.generated, strict=True))
    audio_examples_page(generated, snakemake.output[0], snakemake.params.examples, snakemake.params.sample_rate)
