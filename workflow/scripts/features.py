from pathlib import Path

from vocoder_energy.core.logs import job_log
from vocoder_energy.data.features import FeatureSettings, prepare_features

with job_log(snakemake.log[0]):
    settings = FeatureSettings(**snakemake.params.settings)
    manifest = prepare_features(Path(snakemake.input.corpus).parent, Path(snakemake.output.manifest).parent, settings)
    print(f"features: {manifest['clips']}")
