"""Replay an incident through a reconnect model: measured inputs (inputs.py), policies (policy.py), the
model (model.py), the report section with its calibration (section.py)."""
