import json
from pathlib import Path

from vocoder_energy.analysis.plots import label
from vocoder_energy.core.logs import job_log
from vocoder_energy.deployment.figures import trace_figure


def traced(cost: dict) -> dict:
    return {"setting": cost["setting"]["label"], "trace": cost["trace"], "stability": cost["energy"]["stability"]}


with job_log(snakemake.log[0]):
    model, size = snakemake.wildcards.model, snakemake.wildcards.size
    traces = [traced(json.loads(Path(snakemake.input.cost).read_text()))]  # the cost job's own windows
    if "sweep" in snakemake.input.keys():
        points = json.loads(Path(snakemake.input.sweep).read_text())["points"]
        traces += [
            traced(point["cost"]) | {"setting": f"sweep: {point['setting']['label']}"}
            for point in points
            if point["cost"]
        ]
    trace_figure(label(model, size), traces, Path(snakemake.output[0]).with_suffix(""))
