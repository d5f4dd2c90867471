import numpy as np

from vocoder_energy.logs import job_log
from vocoder_energy.mos import mos_table, read_ratings

with job_log(snakemake.log[0]):
    utterances = set()
    for path in snakemake.input.generated:
        with np.load(path) as data:
            utterances.update(str(i) for i in data["ids"])
    ratings = read_ratings(snakemake.input.ratings, systems=snakemake.params.systems, utterances=utterances)
    table = mos_table(ratings, resamples=snakemake.params.bootstrap)
    print(table.to_string())
    table.to_csv(snakemake.output[0], index=False)
