from vocoder_energy.core.logs import job_log
from vocoder_energy.listening.stimuli import Design, build_test

with job_log(snakemake.log[0]):
    manifest = build_test(
        dict(zip(snakemake.params.systems, snakemake.input.generated)),
        snakemake.output.test,
        snakemake.output.key,
        Design(**snakemake.params.design),
        snakemake.params.sample_rate,
    )
    print(f"{len(manifest['stimuli'])} stimuli (each also under a repeat ID) in {snakemake.output.test}")
