"""Fixtures of the training tests."""

import pytest


@pytest.fixture
def tiny_glow_tts():
    """Tiny multi-speaker Glow-TTS sizes for the pre-training preset: the d-vector width equals
    hidden_channels_enc, as the conversion needs."""
    return dict(
        hidden_channels_enc=8,
        hidden_channels_dec=32,
        hidden_channels_dp=32,
        num_flow_blocks_dec=4,
        num_block_layers=2,
        d_vector_dim=8,
        encoder_params={"kernel_size": 3, "dropout_p": 0.1, "num_layers": 2, "num_heads": 2, "hidden_channels_ffn": 32,
                        "input_length": None},  # fmt: skip
    )
