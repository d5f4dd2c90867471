import torch

from vocoder_energy.core.gpu_lease import gpu_lease
from vocoder_energy.core.logs import job_log
from vocoder_energy.models import add_families
from vocoder_energy.training.job import run_training_job
from vocoder_energy.training.run import TrainingSettings

with job_log(snakemake.log[0]), gpu_lease() as device:
    torch.set_num_threads(snakemake.threads)
    add_families(snakemake.config.get("families", {}))  # a family the config declares
    measurement = snakemake.config["measurement"]
    run_training_job(
        snakemake.wildcards.model,
        snakemake.wildcards.size,
        snakemake.params.hyperparameters,
        TrainingSettings(
            **snakemake.params.training,
            **{key: snakemake.config["training"][key] for key in snakemake.params.operational},
        ),
        train_features=snakemake.input.features,
        generator_out=snakemake.output.generator,
        summary_out=snakemake.output.summary,
        losses_out=snakemake.output.losses,
        checkpoint_root=snakemake.params.checkpoint_root,
        validation_features=snakemake.input.validation,
        device=device,
        # Read from the config, not params: they label and convert the energy, not the training.
        assumed_watts=measurement["assumed_watts"],
        carbon_intensity_kg_per_kwh=measurement["carbon_intensity_kg_per_kwh"],
    )
