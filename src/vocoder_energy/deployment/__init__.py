"""Energy as deployed: how a vocoder is run (precision, clips per call, compiled graphs, CPU threads, GPU
power limit) as cost points of a model, with power traces, a stability verdict per measurement, an
energy card per model and a dataset that merges across machines. docs/deployment.md tells the story.
"""
