import pickle
import sys
import threading
from pathlib import Path

import pytest
import spacy
from spacy.training import Example

from pipelines.corpus.normalization import normalize_text
from pipelines.corpus.segmentation import (
    MAX_CHUNK_CHARS,
    SentenceSegmenter,
    _blank_pipeline,
    cut_text,
    spacy_language,
)
from tests.support.sample_texts import PRIDE_CHAPTER_1_RAW

# The chapter as normalize_text leaves it.
PRIDE = normalize_text(PRIDE_CHAPTER_1_RAW)
PRIDE_SENTENCES = [
    "It is a truth universally acknowledged, that a single man in possession of a good "
    "fortune must be in want of a wife.",
    "However little known the feelings or views of such a man may be on his first "
    "entering a neighbourhood, this truth is so well fixed in the minds of the "
    "surrounding families, that he is considered as the rightful property of some one "
    "or other of their daughters.",
    # No split after "Mr.": spaCy's English tokenizer keeps the abbreviation.
    "\u201cMy dear Mr. Bennet,\u201d said his lady to him one day, \u201chave you heard that "
    "Netherfield Park is let at last?\u201d",
    "Mr. Bennet replied that he had not.",
    "\u201cBut it is,\u201d returned she; \u201cfor Mrs. Long has just been here, and she "
    "told me all about it.\u201d",
    "Mr. Bennet made no answer.",
    # The sentencizer alone would split after "?”"; the lowercase "cried"
    # continues the sentence.
    "\u201cDo not you want to know who has taken it?\u201d cried his wife, impatiently.",
    "\u201c_You_ want to tell me, and I have no objection to hearing it.\u201d",
    # Paragraphs are never joined, even without a full stop.
    "[Illustration:",
    "\u201cHe came down to see the place\u201d",
    "[_Copyright 1894 by George Allen._]]",
]

# Pride and Prejudice, chapter I, a few lines further (lines 736-748).
PRIDE_DIALOGUE = normalize_text(
    "\u201cWhat is his name?\u201d\n"
    "\n"
    "\u201cBingley.\u201d\n"
    "\n"
    "\u201cIs he married or single?\u201d\n"
    "\n"
    "\u201cOh, single, my dear, to be sure! A single man of large fortune; four or five\n"
    "thousand a year. What a fine thing for our girls!\u201d\n"
    "\n"
    "\u201cHow so? how can it affect them?\u201d\n"
)
PRIDE_DIALOGUE_SENTENCES = [
    "\u201cWhat is his name?\u201d",
    "\u201cBingley.\u201d",
    "\u201cIs he married or single?\u201d",
    "\u201cOh, single, my dear, to be sure!",
    "A single man of large fortune; four or five thousand a year.",
    "What a fine thing for our girls!\u201d",
    "\u201cHow so? how can it affect them?\u201d",
]

# Hong Lou Meng, chapter 1 (data/gutenberg/pg24264-0-hong-lou-meng-chinese-
# noheader.txt, lines 37-40). The book ends sentences with 。 and with the
# full-width full stop ．, and closes quotations with ” right after 。.
HONG_LOU_MENG = normalize_text(
    "扇墜大小的可佩可拿．那僧托于掌上，笑道：“形体倒也是個寶物了！還只\n"
    "沒有，實在的好處，須得再鐫上數字，使人一見便知是奇物方妙．然后攜你\n"
    "到那昌明隆盛之邦，詩禮簪纓之族，花柳繁華地，溫柔富貴鄉去安身樂業。\n"
    "”石頭听了，喜不能禁，乃問：“不知賜了弟子那几件奇處，又不知攜了弟\n"
)
HONG_LOU_MENG_SENTENCES = [
    "扇墜大小的可佩可拿．",
    "那僧托于掌上，笑道：“形体倒也是個寶物了！",
    "還只沒有，實在的好處，須得再鐫上數字，使人一見便知是奇物方妙．",
    "然后攜你到那昌明隆盛之邦，詩禮簪纓之族，花柳繁華地，溫柔富貴鄉去安身樂業。”",
    "石頭听了，喜不能禁，乃問：“不知賜了弟子那几件奇處，又不知攜了弟",
]

# jawiki "日本語" (data/wikipedia/jawiki-20250801-pages-articles-multistream_
# 100k_lines.xml.bz2), two paragraphs, wiki link brackets removed.
JAPANESE = (
    "婉曲表現の一部は、敬意表現としても用いられる。たとえば、相手に窓を開けてほしい場合は、"
    "命令表現によらずに、「窓を開けてくれる？」などと問いかけ表現を用いる。あるいは、"
    "「今日は暑いねえ」とだけ言って、窓を開けてほしい気持ちを含意することもある。"
    "\n\n"
    "日本語は、主に日本国内で使用される。日本国外の日本語学習者は2021年調査で379万人にのぼり、"
    "中華人民共和国の約105万人、インドネシアの約71万人が上位となっている。"
)
JAPANESE_SENTENCES = [
    "婉曲表現の一部は、敬意表現としても用いられる。",
    # A quotation followed by a particle (など) stays in its sentence.
    "たとえば、相手に窓を開けてほしい場合は、命令表現によらずに、"
    "「窓を開けてくれる？」などと問いかけ表現を用いる。",
    "あるいは、「今日は暑いねえ」とだけ言って、窓を開けてほしい気持ちを含意することもある。",
    "日本語は、主に日本国内で使用される。",
    "日本国外の日本語学習者は2021年調査で379万人にのぼり、"
    "中華人民共和国の約105万人、インドネシアの約71万人が上位となっている。",
]


@pytest.fixture(scope="module")
def segmenter():
    return SentenceSegmenter()


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("simple", "en"),  # Simple English Wikipedia
        ("pt-BR", "pt"),
        ("de", "de"),
        ("fa", "fa"),
        ("uk", "uk"),
        ("no", "nb"),
        # Han script: multi-language tokenizer plus the CJK rules.
        ("zh", "xx"),
        ("zh-yue", "xx"),
        ("ja", "xx"),
        # Need packages we do not have (PyThaiNLP, mecab-ko, pyvi).
        ("th", "xx"),
        ("ko", "xx"),
        ("vi", "xx"),
        # Not in spaCy, empty, or not a language code at all.
        ("ltg", "xx"),
        ("", "xx"),
        ("../../os", "xx"),
    ],
)
def test_spacy_language(language, expected):
    assert spacy_language(language) == expected
    spacy.blank(expected)  # and it really loads


def test_english_sentences(segmenter):
    assert segmenter.segment("en", PRIDE) == PRIDE_SENTENCES


def test_english_dialogue(segmenter):
    assert segmenter.segment("en", PRIDE_DIALOGUE) == PRIDE_DIALOGUE_SENTENCES


def test_multi_language_fallback_still_segments(segmenter):
    # "xx" has no English abbreviation list, so "Mr." ends a sentence there.
    assert segmenter.segment("ltg", "Mr. Bennet made no answer. This was invitation enough.") == [
        "Mr.",
        "Bennet made no answer.",
        "This was invitation enough.",
    ]
    assert segmenter.segment("", "Mr. Bennet made no answer.") == ["Mr.", "Bennet made no answer."]


def test_chinese_splits_at_full_stops_with_closing_quotes_attached(segmenter):
    assert segmenter.segment("zh", HONG_LOU_MENG) == HONG_LOU_MENG_SENTENCES


def test_chinese_keeps_decimals_and_latin_abbreviations(segmenter):
    # spacy.blank("zh") tokenizes per character and would split "3.4" here.
    assert segmenter.segment("zh", "柏林有3.4百万人口。它是U.S.A.以外的城市！对吗？") == [
        "柏林有3.4百万人口。",
        "它是U.S.A.以外的城市！",
        "对吗？",
    ]


def test_japanese_sentences(segmenter):
    assert segmenter.segment("ja", JAPANESE) == JAPANESE_SENTENCES


def test_japanese_corner_brackets_stay_with_their_sentence(segmenter):
    assert segmenter.segment("ja", "これはペンです。あれは本です！") == [
        "これはペンです。",
        "あれは本です！",
    ]
    assert segmenter.segment("ja", "「これはペンです。」彼は言った！（英語版より。）次へ") == [
        "「これはペンです。」",
        "彼は言った！",
        "（英語版より。）",
        "次へ",
    ]
    # Hiragana right after a closing bracket is a particle continuing the
    # sentence (と, という, など ... in jawiki); rarely a new sentence.
    assert segmenter.segment("ja", "「これはペンです。」と彼は言った。") == [
        "「これはペンです。」と彼は言った。"
    ]


def test_cjk_quotations_inside_english_text(segmenter):
    assert segmenter.segment("en", "He wrote 「これはペンです。」and left. Then he slept.") == [
        "He wrote 「これはペンです。」and left.",
        "Then he slept.",
    ]


def test_sentences_never_cross_paragraphs(segmenter):
    text = "He said\n\nthat it was late. It was.\n \n\nnight fell"
    assert segmenter.segment("en", text) == ["He said", "that it was late.", "It was.", "night fell"]
    assert segmenter.segment("zh", "他说\n\n天晚了。是的") == ["他说", "天晚了。", "是的"]


def test_segment_many_keeps_documents_apart(segmenter):
    texts = [PRIDE, "", "  \n\n ", JAPANESE, PRIDE_DIALOGUE]
    assert segmenter.segment_many("en", texts) == [
        segmenter.segment("en", text) for text in texts
    ]
    assert segmenter.segment_many("en", []) == []
    small_batches = SentenceSegmenter(batch_size=1)
    assert small_batches.segment_many("en", texts) == segmenter.segment_many("en", texts)


def test_paragraph_over_spacy_max_length(segmenter):
    paragraph = " ".join([PRIDE.replace("\n\n", " ")] * 1800)[:1_500_000]
    assert "\n" not in paragraph and len(paragraph) == 1_500_000
    sentences = segmenter.segment("en", paragraph)
    assert len(sentences) > 10_000
    assert "".join(sentences).replace(" ", "") == paragraph.replace(" ", "")
    # Unspaced text without any sentence end is cut hard, losing nothing.
    unspaced = "紅樓夢" * 500_000
    sentences = segmenter.segment("zh", unspaced)
    assert [len(s) for s in sentences] == [MAX_CHUNK_CHARS] * 15
    assert "".join(sentences) == unspaced


def test_chunks_cut_at_sentence_ends():
    paragraph = " ".join(["It is a truth. Mr. Bennet made no answer!"] * 10)
    chunks = list(cut_text(paragraph, limit=100))
    assert "".join(chunks) == paragraph
    assert all(len(c) <= 100 for c in chunks)
    # Cut after the last ". " / "! " in the second half of each window
    # ("Mr. " qualifies too: the cut is only sentence-ish).
    assert [len(c) for c in chunks] == [99, 88, 84, 84, 64]
    assert all(c.endswith((". ", "! ")) for c in chunks[:-1])
    assert list(cut_text("好的。" * 40, limit=50)) == ["好的。" * 16, "好的。" * 16, "好的。" * 8]
    assert list(cut_text("short", limit=50)) == ["short"]


def test_pickled_segmenter_drops_pipelines_and_still_works(segmenter):
    used = SentenceSegmenter(batch_size=32)
    expected = used.segment("en", PRIDE)
    used.segment("ja", JAPANESE)
    assert len(used.loaded_pipelines) == 2
    payload = pickle.dumps(used)
    assert len(payload) < 1000  # no spaCy pipeline inside
    copy = pickle.loads(payload)
    assert copy.loaded_pipelines == {} and copy.batch_size == 32 and copy.model is None
    assert copy.segment("en", PRIDE) == expected
    assert copy.segment("ja", JAPANESE) == JAPANESE_SENTENCES
    assert len(used.loaded_pipelines) == 2  # pickling did not clear the original


def test_missing_model_error_says_how_to_install():
    with pytest.raises(ValueError, match=r"python -m spacy download en_core_web_sm"):
        SentenceSegmenter(model="en_core_web_sm")


def test_invalid_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        SentenceSegmenter(batch_size=0)


def _save_trained_pipeline(path, boundary_component):
    """A tiny pipeline shaped like spaCy's core models: a shared tok2vec,
    a tagger listening to it, and a parser (listening too) or a senter
    (disabled by default, as in en_core_web_sm). Trained on one example,
    so its boundaries are arbitrary, but its structure is real."""
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec")
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": 96, "upstream": "*"}
    nlp.add_pipe(
        "tagger",
        config={"model": {"@architectures": "spacy.Tagger.v2", "tok2vec": listener}},
    )
    if boundary_component == "parser":
        nlp.add_pipe(
            "parser",
            config={
                "model": {
                    "@architectures": "spacy.TransitionBasedParser.v2",
                    "state_type": "parser",
                    "extra_state_tokens": False,
                    "hidden_width": 16,
                    "maxout_pieces": 2,
                    "use_upper": True,
                    "tok2vec": listener,
                }
            },
        )
    else:
        nlp.add_pipe("senter")
    nlp.add_pipe("entity_ruler")
    doc = nlp.make_doc("Mr. Bennet made no answer. This was enough.")
    annotations = {
        "tags": ["NNP", "NNP", "VBD", "DT", "NN", ".", "DT", "VBD", "JJ", "."],
        "heads": [1, 2, 2, 4, 2, 2, 7, 7, 7, 7],
        "deps": ["compound", "nsubj", "ROOT", "det", "dobj", "punct", "nsubj", "ROOT", "acomp", "punct"],
        "sent_starts": [1, 0, 0, 0, 0, 0, 1, 0, 0, 0],
    }
    example = Example.from_dict(doc, annotations)
    nlp.initialize(lambda: [example])
    if boundary_component == "senter":
        nlp.disable_pipe("senter")
    nlp.to_disk(path)


@pytest.mark.parametrize(
    ("boundary_component", "enabled"),
    [("parser", ["tok2vec", "parser"]), ("senter", ["senter"])],
)
def test_trained_model_runs_only_what_sets_boundaries(tmp_path, boundary_component, enabled):
    _save_trained_pipeline(tmp_path, boundary_component)
    segmenter = SentenceSegmenter(model=str(tmp_path), batch_size=8)
    sentences = segmenter.segment_many("de", [PRIDE, JAPANESE])
    nlp = segmenter.loaded_pipelines[str(tmp_path)]
    assert nlp.pipe_names == enabled
    assert len(segmenter.loaded_pipelines) == 1  # one pipeline for all languages
    # Whatever the untrained model decides, nothing is lost or moved across
    # paragraphs.
    for text, result in zip([PRIDE, JAPANESE], sentences):
        assert "".join(result).replace(" ", "") == text.replace(" ", "").replace("\n", "")
        assert all("\n" not in sentence for sentence in result)
    copy = pickle.loads(pickle.dumps(segmenter))
    assert copy.segment("en", PRIDE) == sentences[0]


def test_spacy_loads_on_first_use_and_without_torch_for_the_sentencizer():
    # thinc imports torch whenever it is installed (it is, for the transformers tests): seconds per worker.
    import subprocess
    import sys
    script = (
        "import sys\n"
        "from pipelines.corpus import pipeline\n"
        "from pipelines.corpus.segmentation import SentenceSegmenter\n"
        "print('spacy' in sys.modules)\n"
        "print(SentenceSegmenter().segment('en', 'One here. Two there.'))\n"
        "print('spacy' in sys.modules, 'torch' in sys.modules)\n"
        "import torch\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["False", "['One here.', 'Two there.']", "True False"]


def _books(count: int) -> list[str]:
    paths = sorted((Path(__file__).resolve().parents[2] / "data" / "gutenberg").glob("*.txt"))[:count]
    return [path.read_bytes().decode("utf-8", errors="replace") for path in paths]


def test_segmenting_frees_what_spacy_added_and_threads_take_turns():
    # Raw books (line breaks and all) go through the whole pipeline, normalized ones through SentenceStarts.
    texts = [*_books(4), *map(normalize_text, _books(4))]
    strings = _blank_pipeline("en").vocab.strings
    unseen = {word for text in texts for word in text.split() if word.isalpha() and word not in strings}
    assert len(unseen) > 1000
    expected = [SentenceSegmenter().segment("en", text) for text in texts]
    # spaCy made a string of every word, and the memory zone freed them: a worker does not grow with its corpus.
    assert not any(word in strings for word in unseen)

    # Threads of one process (the multi_threading runner) share the pipeline and its vocab.
    results: dict[int, list] = {}
    failures: list[BaseException] = []

    def segment(thread: int) -> None:
        try:
            segmenter = SentenceSegmenter()
            results[thread] = [segmenter.segment("en", text) for text in texts[thread:] + texts[:thread]]
        except BaseException as error:  # noqa: BLE001 - re-raised below, in the test's thread
            failures.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads switch often, inside spaCy's calls back into Python
    try:
        threads = [threading.Thread(target=segment, args=(thread,)) for thread in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    if failures:
        raise failures[0]
    assert {thread: results[thread] for thread in range(3)} == {
        thread: expected[thread:] + expected[:thread] for thread in range(3)}
    assert not any(word in strings for word in unseen)
