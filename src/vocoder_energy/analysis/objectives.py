"""The objectives of the Pareto analysis, in the units of the paper's Table 2, so that the paper's points
can be drawn beside the user's: qualities (MOS, D_STFT, each objective metric) and costs (GFLOPs per 1.024 s
of audio - the paper's 16,384-sample clip at 16 kHz, the same duration at any model's rate -, energy in J per
100 s of generated audio - the paper's 10 x 10 s workload -, parameters in millions, real-time factor).
"""

from __future__ import annotations

from vocoder_energy.analysis.pareto import Objective
from vocoder_energy.evaluation.metrics import QUALITY_COLUMNS

ENERGY_WORKLOAD_SECONDS = 100.0  # energy objective: J per 100 s of generated audio (10 clips x 10 s)
# GFLOPs objective: per 1.024 s of audio, Table 2's 16,384-sample clip at the paper's 16 kHz. A released model
# at 22.05 kHz needs 22,579 samples for the same speech: counting per 16,384 of its samples would flatter it.
PAPER_CLIP_SECONDS = 16384 / 16000

COSTS = {
    "gflops": Objective("gflops", False, "GFLOPs per 1.024 s of audio (Table 2's 16,384-sample clip; log)", log=True),
    "energy": Objective("energy", False, "Energy, J per 100 s of generated audio (log)", log=True),
    "parameters": Objective("parameters_millions", False, "Parameters, millions (log)", log=True, short="parameters"),
    "real_time_factor": Objective(
        "real_time_factor", False, "Real-time factor (log; below 1 is faster than real time)", log=True
    ),
}


def quality_objectives() -> dict[str, Objective]:
    """Every quality the analysis can use: MOS, D_STFT (both forms) and each objective metric's columns."""
    out = {"mos": Objective("mos", True, "MOS (higher is better)")}
    for column in QUALITY_COLUMNS:
        direction = "higher" if column.higher_is_better else "lower"
        # Distances span decades between a good and a diverged model: a log axis keeps both readable.
        log = column.name.startswith("d_stft") or column.name == "mr_stft"
        out[column.name] = Objective(
            column.name, column.higher_is_better, f"{column.name} ({column.unit}; {direction} is better)", log=log
        )
    return out


PREDICTED_MOS = "dnsmos_p808"  # what ``auto`` uses without ratings when computed: P.808 is the paper's test
# Without ratings, ``auto`` takes the first of these the runs have: the predictor the user configured (opt-in)
# before the one computed by default.
PREDICTED_MOS_COLUMNS = ("local_mos", PREDICTED_MOS)
QUALITY_ALIASES = {"dnsmos": PREDICTED_MOS}

# The choices of analysis.quality ("auto": MOS, else predicted MOS, else D_STFT) and analysis.costs, as in the
# config schema (tests/test_schema_sync.py keeps them equal).
QUALITY_CHOICES = ("auto", *QUALITY_ALIASES, *quality_objectives())
