"""The task registry: task name -> "module:Class". Explicit, no discovery: to add a task, add a line.

Classes are imported on first use (`get_task_class`), so one task's imports (and mistakes) never
slow down or break the others, and `rnnlab --help` stays fast.
"""
from __future__ import annotations

import difflib
import importlib

from rnnlab.errors import UserError
from rnnlab.tasks.base import LossOutput, Task, bucket_batches

TASKS: dict[str, str] = {
    "intent": "rnnlab.tasks.intent:IntentTask",
    "intent_slots": "rnnlab.tasks.joint:JointTask",
    "charlm": "rnnlab.tasks.lm:CharLMTask",
    "wordlm": "rnnlab.tasks.lm:WordLMTask",
    "translate": "rnnlab.tasks.translate:TranslateTask",
    "caption": "rnnlab.tasks.caption:CaptionTask",
    "log_anomaly": "rnnlab.tasks.logs:LogAnomalyTask",
    "api_calls": "rnnlab.tasks.calls:CallsTask",
    "forecast": "rnnlab.tasks.forecast:ForecastTask",
    "spoken_word": "rnnlab.tasks.speech:SpokenWordTask",
    "speech": "rnnlab.tasks.speech:SpeechTask",
}


def get_task_class(name: str) -> type[Task]:
    """The Task subclass registered as `name`; UserError listing the known names otherwise."""
    if name not in TASKS:
        near = difflib.get_close_matches(str(name), TASKS, n=1)
        raise UserError(f"unknown task {name!r}" + (f"; did you mean {near[0]}?" if near else "")
                        + f" (known tasks: {', '.join(sorted(TASKS))})")
    module_name, class_name = TASKS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


__all__ = ["TASKS", "Task", "LossOutput", "bucket_batches", "get_task_class"]
