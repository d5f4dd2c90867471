import json
from pathlib import Path

from vocoder_energy.analysis.plots import label
from vocoder_energy.core.logs import job_log
from vocoder_energy.deployment.figures import trace_figure


def traced(cost: dict, setting: str) -> list[dict]:
    """The measurement's trace, or nothing for a cost document from before traces were sampled."""
    if "trace" not in cost:
        return []
    return [{"setting": setting, "trace": cost["trace"], "stability": cost["energy"]["stability"]}]


with job_log(snakemake.log[0]):
    model, size = snakemake.wildcards.model, snakemake.wildcards.size
    cost = json.loads(Path(snakemake.input.cost).read_text())
    traces = traced(cost, f"cost job: {cost.get('setting', {}).get('label', 'the paper setting')}")
    if "sweep" in snakemake.input.keys():
        points = json.loads(Path(snakemake.input.sweep).read_text())["points"]
        for point in points:
            if point["cost"]:
                traces += traced(point["cost"], f"sweep: {point['setting']['label']}")
    trace_figure(label(model, size), traces, Path(snakemake.output[0]).with_suffix(""))
