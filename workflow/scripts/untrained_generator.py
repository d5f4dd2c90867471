import torch

from vocoder_energy.core.logs import job_log
from vocoder_energy.models import add_families, build_vocoder
from vocoder_energy.models.generator_files import save_generator

with job_log(snakemake.log[0]):
    add_families(snakemake.config.get("families", {}))  # a family the config declares
    torch.manual_seed(snakemake.params.seed)  # the initial weights training would start from
    model = build_vocoder(snakemake.wildcards.model, snakemake.wildcards.size, **snakemake.params.hyperparameters)
    save_generator(model, snakemake.wildcards.size, snakemake.params.hyperparameters, snakemake.output[0])
