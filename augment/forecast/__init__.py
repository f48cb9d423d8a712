"""`augment run`'s forecast: this machine's speed on the actual models (machine_speed.py), turned into
seconds per stage (stages.py)."""

from augment.forecast.machine_speed import MachineSpeed, measure, measure_apart
from augment.forecast.stages import stage_seconds

__all__ = ["MachineSpeed", "measure", "measure_apart", "stage_seconds"]
