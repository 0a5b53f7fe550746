"""Measuring adaptation: metrics (MCD, F0), the evaluation trials and subjects, the fine-tuning
baseline and the `tts-maml evaluate` protocol (dev/test speakers, seeds, floor and ceiling).
"""
