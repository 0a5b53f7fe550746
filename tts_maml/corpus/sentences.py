"""Sentences for the offline corpus: a small template grammar over a word list.

The word list is chosen so that every English phoneme (the 39 ARPAbet phonemes of CMUdict) occurs
in it, so a corpus built from these sentences exercises the whole phoneme inventory of Coqui's
English frontend. The text is the project's own: nothing is copied from an existing corpus.

Example:
    >>> from tts_maml.corpus.sentences import generate_sentences
    >>> len(generate_sentences(5, seed=0))
    5
"""

import random
import re
from typing import Dict, List, Sequence

# Each entry lists the phonemes (ARPAbet) that the word is there for, so that the coverage test
# can check the inventory without a pronunciation dictionary at run time.
NAMES: Dict[str, str] = {
    "Judy": "JH UW D IY",
    "George": "JH AO R",
    "Martha": "M AA R TH AH",
    "Joshua": "JH AA SH UW AH",
    "Zoe": "Z OW IY",
    "Roy": "R OY",
    "Howard": "HH AW ER D",
    "Beth": "B EH TH",
}
NOUNS: Dict[str, str] = {
    "boy": "B OY",
    "cow": "K AW",
    "chair": "CH EH R",
    "judge": "JH AH JH",
    "garage": "G ER AA ZH",
    "treasure": "T R EH ZH ER",
    "book": "B UH K",
    "bird": "B ER D",
    "ship": "SH IH P",
    "thing": "TH IH NG",
    "mouth": "M AW TH",
    "feather": "F EH DH ER",
    "voice": "V OY S",
    "house": "HH AW S",
    "cat": "K AE T",
    "father": "F AA DH ER",
    "sheep": "SH IY P",
    "king": "K IH NG",
    "yacht": "Y AA T",
    "bridge": "B R IH JH",
    "window": "W IH N D OW",
    "river": "R IH V ER",
    "teacher": "T IY CH ER",
    "farmer": "F AA R M ER",
    "kitten": "K IH T AH N",
    "picture": "P IH K CH ER",
    "village": "V IH L IH JH",
    "jungle": "JH AH NG G AH L",
    "television": "T EH L AH V IH ZH AH N",
    "tower": "T AW ER",
    "pillow": "P IH L OW",
    "puzzle": "P AH Z AH L",
}
ADJECTIVES: Dict[str, str] = {
    "quiet": "K W AY AH T",
    "yellow": "Y EH L OW",
    "happy": "HH AE P IY",
    "huge": "HH Y UW JH",
    "young": "Y AH NG",
    "smooth": "S M UW DH",
    "thick": "TH IH K",
    "brave": "B R EY V",
    "cheap": "CH IY P",
    "sharp": "SH AA R P",
    "old": "OW L D",
    "tiny": "T AY N IY",
    "warm": "W AO R M",
    "noisy": "N OY Z IY",
    "fresh": "F R EH SH",
    "beige": "B EY ZH",
    "loyal": "L OY AH L",
    "purple": "P ER P AH L",
    "good": "G UH D",
    "awful": "AO F AH L",
}
VERBS_PAST: Dict[str, str] = {
    "found": "F AW N D",
    "pushed": "P UH SH T",
    "washed": "W AA SH T",
    "watched": "W AA CH T",
    "judged": "JH AH JH D",
    "carried": "K AE R IY D",
    "bought": "B AO T",
    "threw": "TH R UW",
    "caught": "K AO T",
    "thanked": "TH AE NG K T",
    "loved": "L AH V D",
    "measured": "M EH ZH ER D",
    "enjoyed": "EH N JH OY D",
    "followed": "F AA L OW D",
    "visited": "V IH Z AH T AH D",
    "painted": "P EY N T AH D",
    "chased": "CH EY S T",
    "moved": "M UW V D",
}
VERBS_BASE: Dict[str, str] = {
    "find": "F AY N D",
    "push": "P UH SH",
    "wash": "W AA SH",
    "watch": "W AA CH",
    "carry": "K AE R IY",
    "buy": "B AY",
    "throw": "TH R OW",
    "catch": "K AE CH",
    "love": "L AH V",
    "measure": "M EH ZH ER",
    "enjoy": "EH N JH OY",
    "follow": "F AA L OW",
    "visit": "V IH Z AH T",
    "paint": "P EY N T",
    "chase": "CH EY S",
    "move": "M UW V",
}
PREPOSITIONS: Dict[str, str] = {
    "near": "N IH R",
    "behind": "B IH HH AY N D",
    "under": "AH N D ER",
    "beside": "B IH S AY D",
    "through": "TH R UW",
    "across": "AH K R AO S",
    "above": "AH B AH V",
    "with": "W IH DH",
}
ADVERBS: Dict[str, str] = {
    "today": "T AH D EY",
    "again": "AH G EH N",
    "slowly": "S L OW L IY",
    "quickly": "K W IH K L IY",
    "yesterday": "Y EH S T ER D EY",
    "together": "T AH G EH DH ER",
    "at noon": "AE T N UW N",
    "in the evening": "IH N DH AH IY V N IH NG",
}
DETERMINERS: Dict[str, str] = {
    "the": "DH AH",
    "a": "AH",
    "this": "DH IH S",
    "that": "DH AE T",
    "every": "EH V R IY",
    "our": "AW ER",
}

# The 39 phonemes of CMUdict's ARPAbet (stress marks dropped).
ARPABET = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W"
    " Y Z ZH".split()
)

TEMPLATES: Sequence[str] = (
    "{Det} {adj} {noun} {vpast} {det} {noun} {prep} the {noun}.",
    "{Name} {vpast} the {adj} {noun}.",
    "Did {name} {vbase} the {noun} {adv}?",
    "{Name} will {vbase} {det} {adj} {noun} {prep} the {noun} {adv}.",
    "Why did the {noun} {vbase} {det} {adj} {noun}?",
    "After the {noun} {vpast} the {noun}, {name} {vpast} {det} {adj} {noun}.",
    "{Det} {noun} {prep} the {noun} was {adj}, and the {noun} was {adj}.",
    "{Adv}, {name} and {name} {vpast} the {adj} {noun}.",
)


def word_lists() -> Dict[str, Dict[str, str]]:
    """Return the grammar's word lists by slot name (word -> the phonemes it covers)."""
    return {
        "name": NAMES,
        "noun": NOUNS,
        "adj": ADJECTIVES,
        "vpast": VERBS_PAST,
        "vbase": VERBS_BASE,
        "prep": PREPOSITIONS,
        "adv": ADVERBS,
        "det": DETERMINERS,
    }


def _fill(template: str, rng: random.Random) -> str:
    lists = word_lists()
    out: List[str] = []
    rest = template
    while "{" in rest:
        head, _, tail = rest.partition("{")
        slot, _, rest = tail.partition("}")
        word = rng.choice(sorted(lists[slot.lower()]))
        if slot[0].isupper():
            word = word[0].upper() + word[1:]
        out.append(head + word)
    out.append(rest)
    # "a old tower" -> "an old tower"
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", "".join(out))


def generate_sentences(count: int, seed: int = 0) -> List[str]:
    """Generate ``count`` distinct sentences from the template grammar, deterministically.

    Args:
        count: how many sentences to return.
        seed: the same seed always gives the same list (and a longer list starts with a shorter one).

    Example:
        >>> generate_sentences(2, seed=1) == generate_sentences(2, seed=1)
        True
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    rng = random.Random(seed)
    seen = set()
    sentences: List[str] = []
    attempts = 0
    while len(sentences) < count:
        attempts += 1
        if attempts > 100 * count + 1000:
            raise RuntimeError(f"the grammar cannot make {count} distinct sentences")
        sentence = _fill(TEMPLATES[rng.randrange(len(TEMPLATES))], rng)
        if sentence not in seen:
            seen.add(sentence)
            sentences.append(sentence)
    return sentences
