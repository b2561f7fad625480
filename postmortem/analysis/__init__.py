"""Analysis layer: events table to the frozen Report (correlate, detectors, timeline, story, pipeline)."""
