"""A new voice from a folder of clips: clip intake, adaptation in steps (load, prepare batches, adapt
with early stopping, export), fine-tuning with Adam (the other way to step) and the voice delta file
(voice.pth: apply, merge, load).
"""
