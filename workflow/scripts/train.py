import torch

from vocoder_energy.logs import job_log
from vocoder_energy.training import TrainingSettings, run_training_job

with job_log(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    run_training_job(
        snakemake.wildcards.model,
        snakemake.wildcards.size,
        snakemake.params.hyperparameters,
        TrainingSettings(
            **snakemake.params.training,
            checkpoint_every_seconds=snakemake.config["training"]["checkpoint_every_seconds"],
        ),
        train_features=snakemake.input.features,
        generator_out=snakemake.output.generator,
        summary_out=snakemake.output.summary,
        losses_out=snakemake.output.losses,
        checkpoint_root=snakemake.params.checkpoint_root,
    )
