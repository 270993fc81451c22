"""Training: batching, the CARL step, checkpoints, and the loop."""
