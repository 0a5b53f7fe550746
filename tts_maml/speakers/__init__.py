"""Speaker identity: Resemblyzer speaker embeddings and similarity, and the d-vectors that condition
the pre-trained model and start a voice's slot.
"""
