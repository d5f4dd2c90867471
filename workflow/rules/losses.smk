rule loss_figures:
    input:
        losses=per_job_sorted("results/train/{model}_{size}_losses.jsonl"),
        code=code("loss_figures.py", "loss_curves"),
    output:
        models=[
            report(
                path, caption="../report/loss_model.rst", category="Training losses"
            )
            for path in per_job_sorted("results/figures/losses/{model}_{size}.png")
        ],
        png=report(
            "results/figures/losses.png",
            caption="../report/losses.rst",
            category="Training losses",
        ),
        svg="results/figures/losses.svg",
    log:
        "logs/loss_figures.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        # Sorted, as the inputs: reordering the models must not redraw the figures.
        jobs=sorted(JOBS),
    script:
        "../scripts/loss_figures.py"
