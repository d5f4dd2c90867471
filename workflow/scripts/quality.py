import json

import numpy as np
import pandas as pd

from vocoder_energy.core.logs import job_log
from vocoder_energy.evaluation.quality import evaluate_quality

with job_log(snakemake.log[0]):
    with np.load(snakemake.input.generated) as data:
        result = evaluate_quality(
            data["reference"],
            data["generated"],
            ids=data["ids"],
            metrics=snakemake.params.metrics,
            multiscale=snakemake.params.multiscale,
        )
    pd.DataFrame(result.pop("utterances")).to_csv(snakemake.output.utterances, index=False)
    print(json.dumps(result["metrics"], indent=1))
    with open(snakemake.output.json, "w") as out:
        json.dump(result, out, indent=2)
