"""Lesson 00 -- where the course runs: settings and folders, the device/mode/precision switch, and msrun data parallelism."""
