"""Instance creation as plain functions: chunking, truncation, random streams, tokens, compared with the reference."""
from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

from pipelines.pretraining.instances import (
    DONOR_START,
    DocumentRun,
    instance_seeds,
    plan_chunks,
    random_words,
    round_instance_seeds,
    truncations,
)
from pipelines.pretraining import tokens
from pipelines.pretraining.tokens import DocumentTokenizer, check_vocab_case, chinese_word_continuations, load_tokenizer
from tests.support.pretraining_data import VOCAB
from tests.support.pretraining_data import tokenized_document as _document
from vocab.tokenization import FullTokenizer, load_vocab


# --- chunking -------------------------------------------------------------


def _reference_chunks(reference, lengths: list[int], max_num_tokens: int, seed: int) -> list[tuple]:
    """The reference's chunks of document 0, read back from its instances (tokens are sentence indices)."""
    document = [[f"s{i}"] * length for i, length in enumerate(lengths)]
    other = [["other"] * 3]
    rng = random.Random(seed)
    instances = reference.create_instances_from_document(
        [document, other], 0, max_num_tokens + 3, 0.0, 0.0001, 1, ["x"], rng)
    chunks = []
    for instance in instances:
        tokens = instance.tokens[1:]
        a = tokens[:tokens.index("[SEP]")]
        chunks.append((sorted({t for t in a if t.startswith("s")}), instance.is_random_next))
    return chunks


def test_chunks_follow_the_reference_split(reference):
    """Same sentence lengths -> the same A segments and the same share of random next, over many seeds."""
    lengths = [5, 30, 12, 40, 7, 22, 9, 60, 3, 18, 25, 11]
    ours, theirs = [], []
    for seed in range(300):
        plan = plan_chunks(lengths, 61, 0.0, random.Random(seed))
        ours += [(len(range(c.start, c.a_end)), c.random_next) for c in plan]
        theirs += [(len(a), random_next) for a, random_next in _reference_chunks(reference, lengths, 61, seed)]
    assert len(ours) == pytest.approx(len(theirs), rel=0.05)
    assert np.mean([r for _, r in ours]) == pytest.approx(np.mean([r for _, r in theirs]), abs=0.03)
    assert np.mean([n for n, _ in ours]) == pytest.approx(np.mean([n for n, _ in theirs]), rel=0.05)


def test_chunk_plan_covers_the_document_and_puts_unused_sentences_back():
    lengths = [10] * 30
    for seed in range(50):
        plan = plan_chunks(lengths, 45, 0.1, random.Random(seed))
        assert plan[0].start == 0
        for chunk, following in zip(plan, plan[1:]):
            # Random next consumes only A: the rest of the chunk starts the next one.
            assert following.start == (chunk.a_end if chunk.random_next else chunk.end)
        assert all(c.start < c.a_end <= c.end for c in plan)
        assert all(c.a_end == c.end for c in plan if c.random_next)
        assert all(c.end > c.a_end for c in plan if not c.random_next)


def test_one_sentence_chunks_always_take_a_random_next():
    plan = plan_chunks([200, 200, 200], 100, 0.0, random.Random(1))
    assert [c.random_next for c in plan] == [True, True, True]
    assert [c.target_b_length for c in plan] == [100 - 200] * 3


# --- truncation and donors --------------------------------------------------


def test_truncation_cuts_as_many_tokens_from_each_side_as_the_reference(reference):
    rng = random.Random(7)
    cases = [(rng.randint(1, 300), rng.randint(1, 300), rng.randint(2, 300)) for _ in range(500)]
    seeds = np.array([rng.getrandbits(63) for _ in cases], dtype=np.uint64)
    for (la, lb, limit), seed in zip(cases, seeds):
        a, b = list(range(la)), list(range(lb))
        reference.truncate_seq_pair(a, b, limit, rng)
        front_a, back_a, front_b, back_b = (int(cut[0]) for cut in truncations([la], [lb], limit, seed[None]))
        assert (front_a + back_a, front_b + back_b) == (la - len(a), lb - len(b))
        assert min(la - front_a - back_a, lb - front_b - back_b) >= 1
        assert min(front_a, back_a, front_b, back_b) >= 0


def test_truncation_is_the_same_one_instance_at_a_time_or_in_a_batch():
    rng = random.Random(3)
    lengths_a, lengths_b = [rng.randint(1, 400) for _ in range(300)], [rng.randint(1, 400) for _ in range(300)]
    seeds = np.arange(300, dtype=np.uint64) * np.uint64(7919)
    batched = np.stack(truncations(lengths_a, lengths_b, 125, seeds), axis=1)
    single = [np.stack(truncations([la], [lb], 125, seeds[i:i + 1]), axis=1)[0]
              for i, (la, lb) in enumerate(zip(lengths_a, lengths_b))]
    assert batched.tolist() == np.array(single).tolist()


def test_truncation_cuts_front_and_back_equally_often():
    seeds = np.arange(400, dtype=np.uint64)
    fronts = truncations(np.full(400, 300), np.full(400, 100), 200, seeds)[0]  # 200 cuts from A each time
    assert np.mean(fronts) == pytest.approx(100, abs=2)
    assert 4 < np.std(fronts) < 10  # Binomial(200, 1/2): sd 7.07


def test_donor_spans_take_sentences_until_the_target_like_the_reference():
    documents = [_document([3, 9]), _document([4, 6, 3, 8, 5]), _document([7, 1, 2])]
    run = DocumentRun.of(documents)
    seeds = np.arange(600, dtype=np.uint64)
    donors = np.arange(600) % 3
    targets = (np.arange(600) % 30 - 3).astype(np.int64)
    begins, ends = run.donor_spans(donors, targets, random_words(seeds, DONOR_START, 1)[:, 0])
    token_bases = np.cumsum([0] + [len(d.tokens) for d in documents])
    for begin, end, donor, target in zip(begins.tolist(), ends.tolist(), donors.tolist(), targets.tolist()):
        offsets = documents[donor].offsets + token_bases[donor]
        first = int(np.searchsorted(offsets, begin))
        assert offsets[first] == begin and first < documents[donor].num_sentences  # starts at one of its sentences
        taken, index = 0, first
        while index < documents[donor].num_sentences:  # the reference's loop
            taken += int(offsets[index + 1] - offsets[index])
            index += 1
            if taken >= target:
                break
        assert end == offsets[index]
        assert (run.tokens[begin:end] == documents[donor].tokens[begin - token_bases[donor]:end - token_bases[donor]]).all()


def test_donor_start_sentence_is_uniform():
    run = DocumentRun.of([_document([2] * 5)])
    begins, _ = run.donor_spans(np.zeros(5000, dtype=np.int64), np.ones(5000, dtype=np.int64),
                                random_words(np.arange(5000, dtype=np.uint64), DONOR_START, 1)[:, 0])
    assert np.bincount(begins // 2).tolist() == pytest.approx([1000] * 5, abs=100)


def _splitmix_value(seed: int, stream: int, index: int) -> int:
    """The documented definition of random_words, in Python integers."""
    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
        return z ^ (z >> 31)

    golden = 0x9E3779B97F4A7C15
    return mix((mix((seed + stream * golden) % 2**64) + (index + 1) * golden) % 2**64)


def test_random_words_match_their_definition_and_look_uniform():
    seeds = np.array([0, 1, 2**62 + 12345], dtype=np.uint64)
    table = random_words(seeds, 3, 5)
    assert [[_splitmix_value(int(s), 3, j) for j in range(5)] for s in seeds] == table.tolist()
    assert random_words(seeds, 3, 2, first=3).tolist() == table[:, 3:5].tolist()
    assert instance_seeds(99, 2, first=1).tolist() == [_splitmix_value(99, 9, j) >> 1 for j in (1, 2)]
    rounds = [(2**62 + 7, 3), (5, 0), (99, 2)]
    assert round_instance_seeds(*zip(*rounds)).tolist() == [
        seed for round_seed, count in rounds for seed in instance_seeds(round_seed, count).tolist()]
    assert round_instance_seeds([], []).tolist() == []
    bits = random_words(np.arange(2000, dtype=np.uint64), 1, 64)
    assert ((bits >> np.uint64(63)) == 1).mean() == pytest.approx(0.5, abs=0.01)


# --- tokens -----------------------------------------------------------------


def test_chinese_characters_group_into_words_for_whole_word_masking():
    assert chinese_word_continuations("我爱北京天安门") == [False, False, False, True, False, True, True]
    tokenizer = FullTokenizer(str(VOCAB))
    document = DocumentTokenizer(tokenizer, whole_word_mask=True)("zh", ["我爱北京天安门 playing"])
    pieces = tokenizer.convert_ids_to_tokens(document.tokens.tolist())
    assert pieces == tokenizer.tokenize("我爱北京天安门 playing") and len(pieces) == 8  # 爱 is [UNK] here
    assert document.word_starts.tolist() == [True, True, True, False, True, False, False, True]
    english = DocumentTokenizer(tokenizer, whole_word_mask=True)("en", ["unaffable tokens"])
    assert english.word_starts.tolist() == [not p.startswith("##") for p in
                                             tokenizer.convert_ids_to_tokens(english.tokens.tolist())]


def test_vocab_case_must_match_lowercasing():
    vocab = load_vocab(str(VOCAB))
    check_vocab_case(vocab, True)
    with pytest.raises(ValueError, match="uncased"):
        check_vocab_case(vocab, False)
    cased = {(token.capitalize() if i % 5 == 0 and not token.startswith("[") else token): i
             for i, token in enumerate(vocab)}
    with pytest.raises(ValueError, match="cased"):
        check_vocab_case(cased, True)


def test_the_stage_tokenizer_and_its_worker_copies_keep_bounded_word_caches(monkeypatch):
    assert load_tokenizer(VOCAB, True)[0].cache_size == tokens.WORKER_CACHE_SIZE < 500_000
    monkeypatch.setattr(tokens, "WORKER_CACHE_SIZE", 40)
    tokenizer, _ = load_tokenizer(VOCAB, True)
    copy = pickle.loads(pickle.dumps(tokenizer))  # as Beam hands it to a worker
    words = " ".join(f"w{number}ord" for number in range(100))
    assert copy.encode_batch([words]) == tokenizer.encode_batch([words])
    assert copy.cache_size == 40 and 0 < len(copy._id_cache) <= 40
