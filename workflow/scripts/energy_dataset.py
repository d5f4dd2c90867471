import json
from pathlib import Path

from vocoder_energy.core.logs import job_log
from vocoder_energy.deployment.dataset import dataset_rows, write_dataset


def read(path):
    return json.loads(Path(path).read_text())


with job_log(snakemake.log[0]):
    inputs, params = snakemake.input, snakemake.params
    sweeps = dict(zip(map(tuple, params.swept), inputs.sweep, strict=True))
    precision_quality = iter(inputs.precision_quality)  # swept model by swept model, precision by precision
    precision_docs = {job: {p: read(next(precision_quality)) for p in params.precisions} for job in sweeps}
    entries = [
        {
            "model": model,
            "size": size,
            "origin": read(origin),
            "quality": read(quality),
            "cost": read(cost),
            "sweep": read(sweeps[model, size]) if (model, size) in sweeps else None,
            "precision_quality": precision_docs.get((model, size), {}),
        }
        for (model, size), origin, quality, cost in zip(
            map(tuple, params.jobs), inputs.origin, inputs.quality, inputs.cost, strict=True
        )
    ]
    rows = dataset_rows(entries, params.energy_basis, params.carbon_intensity)
    write_dataset(rows, snakemake.output.csv, schema_out=snakemake.output.schema)
    print(f"{len(rows)} measurements of {len(entries)} models ({len(sweeps)} swept)")
