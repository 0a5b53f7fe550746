"""Training runs in Coqui's Trainer: meta-training (MamlTrainerModel), the pre-training config,
the conversion of a multi-speaker checkpoint into one voice slot, and what the recipes share.
"""
