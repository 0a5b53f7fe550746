import numpy as np
import soundfile as sf
from TTS.utils.audio import AudioProcessor

from tts_maml import judges
from tts_maml.backbones import GlowTTSBackbone
from tts_maml.evaluate.subject import seeded
from tts_maml.evaluate.trials import make_trials
from tts_maml.evaluate.vocoder_ceiling import round_trip, vocoder_scores
from tts_maml.speakers.similarity import cosine, embed


def _ap(power=1.25):
    audio = GlowTTSBackbone.tiny_config().audio
    audio.power = power
    return AudioProcessor(audio)


def test_round_trip_resamples_and_keeps_the_length(small_corpus):
    wav, rate = sf.read(f"{small_corpus.out}/wav48_silence_trimmed/sp000/sp000_001_mic1.flac", dtype="float32")
    ap = _ap()
    with seeded(0, "clip"):
        a = round_trip(ap, wav, rate)
    with seeded(0, "clip"):
        assert np.array_equal(a, round_trip(ap, wav, rate))  # seeded: the same phases
    assert a.dtype == np.float32 and abs(a.size - wav.size) <= ap.hop_length * 2
    # Another sample rate is resampled to the model's first: about the same audio comes back.
    slow = round_trip(ap, wav[::2].copy(), rate // 2)
    assert abs(slow.size - wav.size) <= ap.hop_length * 4
    # The voice survives a round trip (a Griffin-Lim exponent that sharpens the spectrum loses more of it).
    reference = embed(wav, rate)
    assert cosine(embed(a, ap.sample_rate), reference) > 0.7


def test_vocoder_scores_one_row_per_episode(small_corpus):
    from TTS.tts.configs.shared_configs import BaseDatasetConfig

    from tts_maml.corpus.samples import load_samples

    samples = load_samples(BaseDatasetConfig(formatter="vctk", path=small_corpus.out))
    speakers = sorted({s["speaker_name"] for s in samples})[:2]
    episodes = make_trials(samples, speakers, [0, 1], shots=1, queries=2)
    rows = vocoder_scores(episodes, _ap(), unit=lambda e: (e.speaker, e.seed))
    assert [r["speaker"] for r in rows] == [(e.speaker, e.seed) for e in episodes]
    for metric in judges.SIMILARITY_METRICS:
        ceilings = [np.mean([s[metric] for s in e.real_scores]) for e in episodes]
        assert all(0.3 < r[metric] <= c + 0.05 for r, c in zip(rows, ceilings)), metric
    # Whisper heard the round trip too: an error rate per episode, as for the real clips.
    assert all(set(judges.TEXT_METRICS) <= set(r) and r["cer"] >= 0 for r in rows)
