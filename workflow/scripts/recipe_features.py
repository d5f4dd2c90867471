from pathlib import Path

from vocoder_energy.core.logs import job_log
from vocoder_energy.data.recipe_features import prepare_recipe_features
from vocoder_energy.data.recipes import recipe_for

with job_log(snakemake.log[0]):
    manifest = prepare_recipe_features(
        Path(snakemake.input.corpus).parent,
        snakemake.input.study_test,
        recipe_for(snakemake.wildcards.recipe),
        snakemake.params.seconds,
        Path(snakemake.output.test).parent,
    )
    print(f"{manifest['front_end']}: {manifest['clips']} clips of {manifest['samples']} samples")
