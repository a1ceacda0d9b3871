"""The grid runner: prepare each task once, then train and evaluate every (loss, seed) cell.

grid.py        GridRunner: the loop over tasks and cells, resume by skipping finished cells
prepare.py     TaskPreparer: data, warm start, pairs, held-out split, the start's evaluation
cell.py        CellRunner: one cell's copy of the start, batches, reference, training, evaluation
evaluate.py    Evaluator: captions, task metrics, preference metrics and lm-eval, same for every model
record.py      the files a cell leaves: manifest.json, result.json, captions.jsonl
claim.py       a cell's claim.json (pid, host): two runs on one results folder never train one cell
observer.py    progress hooks (RunObserver) and CellReport
environment.py the device, versions and git commit recorded in manifests
executor.py    the grid as submitit jobs (--executor submitit-local | slurm): a prepare job, one job per cell
jobs.py        which job ran which cell (submitit/jobs.json) and each job's state
status.py      each cell of a run as done, failed, running, interrupted or pending (synpo-bench status)

Import from the modules themselves: this package imports nothing, so that the command line's progress
display and status (observer.py, status.py) load without torch.
"""
