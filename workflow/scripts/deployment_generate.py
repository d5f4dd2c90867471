import torch

from vocoder_energy.core.gpu_lease import gpu_lease
from vocoder_energy.core.logs import job_log
from vocoder_energy.deployment.apply import autocast
from vocoder_energy.deployment.settings import Setting
from vocoder_energy.evaluation.generation import generate_test_audio
from vocoder_energy.models.generator_files import load_generator

with job_log(snakemake.log[0]), gpu_lease() as device:
    torch.set_num_threads(snakemake.threads)
    model = load_generator(snakemake.input.generator, device, **snakemake.params.inference)
    with autocast(Setting(precision=snakemake.wildcards.precision), device):
        generate_test_audio(model, snakemake.input.test, snakemake.output[0], snakemake.params.clips, device=device)
