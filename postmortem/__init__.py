"""postmortem: turn a folder of Redis incident logs into a written postmortem."""

__version__ = "0.1.0"
