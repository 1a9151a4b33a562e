"""Training: the Trainer (optimiser, schedule, seeded dropout), crash-safe checkpoints, and the task registry."""
