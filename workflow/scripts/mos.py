import numpy as np

from vocoder_energy.core.logs import job_log
from vocoder_energy.listening.mos import anchor_check, mos_table, read_ratings, read_screening, screen_raters

with job_log(snakemake.log[0]):
    utterances = set()
    for path in snakemake.input.generated:
        with np.load(path) as data:
            utterances.update(str(i) for i in data["ids"])
    ratings = read_ratings(snakemake.input.ratings, systems=snakemake.params.systems, utterances=utterances)
    raters = snakemake.input.raters[0] if snakemake.input.raters else None
    screening = read_screening(raters) if raters else None
    anchor = anchor_check(ratings)  # over every rater: the anchor's own check, before screening
    ratings, screened = screen_raters(ratings, screening, snakemake.params.max_gold_failures, source=str(raters))
    print(screened)
    if anchor:
        print(anchor)
    table = mos_table(ratings, resamples=snakemake.params.bootstrap)
    print(table.to_string())
    table.to_csv(snakemake.output[0], index=False)
