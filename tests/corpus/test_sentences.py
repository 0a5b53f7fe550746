import re

from tts_maml.corpus.sentences import ARPABET, TEMPLATES, generate_sentences, word_lists


def test_deterministic_for_a_seed_and_prefix_stable():
    assert generate_sentences(20, seed=3) == generate_sentences(20, seed=3)
    assert generate_sentences(30, seed=3)[:20] == generate_sentences(20, seed=3)
    assert generate_sentences(20, seed=3) != generate_sentences(20, seed=4)


def test_sentences_are_distinct_and_well_formed():
    sentences = generate_sentences(500, seed=0)
    assert len(set(sentences)) == 500
    for s in sentences:
        assert s[0].isupper() and s[-1] in ".?"
        assert "{" not in s and "}" not in s
        assert not re.search(r"\b[Aa] [aeiouAEIOU]", s), s  # "a old" is written "an old"
        assert re.fullmatch(r"[A-Za-z ,.?]+", s), s


def test_word_list_covers_every_english_phoneme():
    covered = set()
    for words in word_lists().values():
        for phonemes in words.values():
            covered.update(phonemes.split())
    assert covered <= ARPABET
    assert covered == ARPABET, f"missing phonemes: {sorted(ARPABET - covered)}"


def test_every_template_is_used():
    sentences = generate_sentences(300, seed=1)
    starts = {t.split(" ")[0] for t in TEMPLATES}
    assert any(s.startswith("Did ") for s in sentences)
    assert any(s.startswith("After the ") for s in sentences)
    assert len(starts) > 3
