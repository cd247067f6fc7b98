"""One trainer for every task: the loop is written out in loop.py, the task supplies data, model, loss, metrics.

    setup:            seeds, data read + encoded, model, optimizer, schedule; or the checkpoint's state
    for epoch:        (batches are a pure function of (seed, epoch))
      train_epoch:    for step, indices in batches[start:] (start > 0 when resuming mid-epoch):
        train_step:     this process's share of the global batch -> collate -> task.loss -> sum / global count
                        backward (DDP averages gradients) -> clip -> optimizer step -> LR schedule step
                        every `checkpoint_every` steps: atomic checkpoint
      end_of_epoch:   evaluate on valid -> metrics.jsonl -> keep best weights -> early stopping -> checkpoint
    finish:           best weights -> evaluate valid and test -> bundle (RUN_DIR/bundle)

Pieces: state.py (RunState, the position every checkpoint stores), run_dir.py (the run directory's
files, its lock, resume), ddp.py (data parallel), schedule.py (LR schedule, time budget), setup.py
(config checks, data, optimizer), loop.py (the Trainer).

Determinism: with the same seed, two runs (and a run resumed from a checkpoint) take the same batches
and the same dropout masks. State carried across batches (Task.loss `carry`: a language model's hidden
state) is in mid-epoch checkpoints too, so a resumed language model continues exactly (single process;
under DDP a resume restarts the carried state, as at an epoch start).
"""
from rnnlab.training.ddp import Dist
from rnnlab.training.loop import Trainer, evaluate, train
from rnnlab.training.run_dir import BEST, CHECKPOINT, METRICS, RunLock, load_run_config, run_dir_of
from rnnlab.training.schedule import TimeBudget, lr_factor
from rnnlab.training.setup import (
    build_model,
    check_train_config,
    default_optimizer,
    metric_mode,
    prepare_task,
    seed_everything,
)
from rnnlab.training.state import RunState

__all__ = ["BEST", "CHECKPOINT", "METRICS", "Dist", "RunLock", "RunState", "TimeBudget", "Trainer",
           "build_model", "check_train_config", "default_optimizer", "evaluate", "load_run_config", "lr_factor",
           "metric_mode", "prepare_task", "run_dir_of", "seed_everything", "train"]
