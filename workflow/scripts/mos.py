from vocoder_energy.core.files import write_text
from vocoder_energy.core.logs import job_log
from vocoder_energy.evaluation.clips import load_clips
from vocoder_energy.listening.mos import anchor_check, mos_table, read_ratings, read_screening, screen_raters

with job_log(snakemake.log[0]):
    utterances = {utterance for path in snakemake.input.generated for utterance in load_clips(path).ids}
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
    write_text(table.to_csv(index=False), snakemake.output[0])
