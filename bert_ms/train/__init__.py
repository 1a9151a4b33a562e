"""Training: the Trainer (optimiser, schedule, seeded dropout), crash-safe checkpoints, the tasks and their data, frozen features."""
