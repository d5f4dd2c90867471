import json

import pandas as pd

from vocoder_energy.core.files import write_json, write_text
from vocoder_energy.core.logs import job_log
from vocoder_energy.data.features import load_split
from vocoder_energy.evaluation.quality import evaluate_ground_truth

with job_log(snakemake.log[0]):
    reference, _, ids = load_split(snakemake.input.test, snakemake.params.clips)
    result = evaluate_ground_truth(reference, ids, metrics=snakemake.params.metrics, options=snakemake.params.options)
    write_text(pd.DataFrame(result.pop("utterances")).to_csv(index=False), snakemake.output.utterances)
    print(json.dumps(result["metrics"], indent=1))
    write_json(result, snakemake.output.json)
