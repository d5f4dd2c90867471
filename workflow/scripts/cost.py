import torch

from vocoder_energy.core.files import write_json
from vocoder_energy.core.gpu_lease import gpu_lease
from vocoder_energy.core.logs import job_log
from vocoder_energy.cost.probe import ProbeSettings, measure_cost
from vocoder_energy.models.generator_files import load_generator

with job_log(snakemake.log[0]), gpu_lease() as device:
    torch.set_num_threads(snakemake.threads)
    model = load_generator(snakemake.input.generator, device, **snakemake.params.inference)
    probe = ProbeSettings(**snakemake.params.probe)
    result = measure_cost(model, probe, device, test_features=snakemake.input.get("test"))
    result["inference_options"] = snakemake.params.inference
    result["weights"] = snakemake.params.weights  # trained, or untrained (cost_table)
    write_json(result, snakemake.output[0])
