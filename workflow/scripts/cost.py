import json

import torch

from vocoder_energy.cost import ProbeSettings, measure_cost
from vocoder_energy.logs import job_log
from vocoder_energy.training import load_generator, pick_device

with job_log(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    device = pick_device()
    model = load_generator(snakemake.input.generator, device, **snakemake.params.inference)
    probe = ProbeSettings(**snakemake.params.probe)
    result = measure_cost(model, probe, device, test_features=snakemake.input.get("test"))
    result["inference_options"] = snakemake.params.inference
    with open(snakemake.output[0], "w") as out:
        json.dump(result, out, indent=2)
