"""Input layer: files to decoded text to the events table (discover, decode, stream, timeparse, ingest)."""
