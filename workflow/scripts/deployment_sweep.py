import torch

from vocoder_energy.core.files import write_json
from vocoder_energy.core.gpu_lease import gpu_lease
from vocoder_energy.core.logs import job_log
from vocoder_energy.cost.probe import ProbeSettings
from vocoder_energy.deployment.settings import Setting
from vocoder_energy.deployment.sweep import measure_sweep
from vocoder_energy.models.generator_files import load_generator

with job_log(snakemake.log[0]), gpu_lease() as device:
    torch.set_num_threads(snakemake.threads)
    model = load_generator(snakemake.input.generator, device, **snakemake.params.inference)
    result = measure_sweep(
        model,
        [Setting.from_dict(record) for record in snakemake.params.settings],
        ProbeSettings(**snakemake.params.probe),
        device,
        test_features=snakemake.input.get("test"),
    )
    result |= {
        "model": snakemake.wildcards.model,
        "size": snakemake.wildcards.size,
        "inference_options": snakemake.params.inference,
    }
    write_json(result, snakemake.output[0])
