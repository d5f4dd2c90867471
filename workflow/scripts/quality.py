import json

import numpy as np

from vocoder_energy.logs import job_log
from vocoder_energy.quality import evaluate_quality

with job_log(snakemake.log[0]):
    with np.load(snakemake.input.generated) as data:
        result = evaluate_quality(data["reference"], data["generated"])
    print(json.dumps(result))
    with open(snakemake.output[0], "w") as out:
        json.dump(result, out, indent=2)
