"""Batch layer: many incidents, their reports and the cross-incident index."""
