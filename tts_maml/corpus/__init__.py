"""The data: the built-in offline corpus (synthetic voices, sentences, the VCTK-layout builder and its
cache), Coqui samples, the speaker splits (training / held out / dev / test) and the outside test voice.

Data flows one way from here: corpus samples -> meta/ episodes -> ... Nothing in corpus/ imports the
rest of the package but the file writer (tts_maml.files).
"""
