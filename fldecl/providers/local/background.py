"""``apply --no-wait`` on the local backend: a training's run, in a process of its own that outlives the CLI.

Usage (by :mod:`fldecl.providers.local.trainings` only): ``python -m fldecl.providers.local.background JOB_FILE``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fldecl.fl.runner import run_training
from fldecl.fl.training_job import TrainingJob

if __name__ == "__main__":
    run_training(TrainingJob.load(Path(sys.argv[1])))
