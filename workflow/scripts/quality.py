import json

import pandas as pd

from vocoder_energy.core.files import write_json, write_text
from vocoder_energy.core.logs import job_log
from vocoder_energy.evaluation.clips import load_clips
from vocoder_energy.evaluation.quality import evaluate_clips

with job_log(snakemake.log[0]):
    result = evaluate_clips(
        load_clips(snakemake.input.generated),
        metrics=snakemake.params.metrics,
        options=snakemake.params.options,
        multiscale=snakemake.params.multiscale,
    )
    write_text(pd.DataFrame(result.pop("utterances")).to_csv(index=False), snakemake.output.utterances)
    print(json.dumps(result["metrics"], indent=1))
    write_json(result, snakemake.output.json)
