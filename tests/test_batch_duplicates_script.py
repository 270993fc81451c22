"""scripts/batch_duplicates.py finds the batches that repeat a text, as the trainer's length grouping builds them."""

from script_loading import load_script


def test_repeated_rows_ignore_case_and_surrounding_spaces_but_not_punctuation():
    script = load_script("batch_duplicates")
    assert script.repeated_rows(["Oh.", " oh. ", "Oh?", "OH."]) == 2
    assert script.repeated_rows(["a", "b"]) == 0


def test_closest_pair_ratio_finds_a_sentence_repeated_with_a_prefix():
    script = load_script("batch_duplicates")
    sentence = "The speed of sound in dry air is three hundred and forty-three meters per second."
    unrelated = ["I lost the final.", "We won!", "Rain again, all week."]
    assert script.closest_pair_ratio([sentence, *unrelated]) < 0.6
    assert script.closest_pair_ratio([sentence, "Fact: " + sentence, *unrelated]) > 0.9
    assert script.closest_pair_ratio(["only one"]) == 0.0


def test_length_grouping_puts_the_two_short_copies_in_one_batch_and_the_report_finds_it():
    script = load_script("batch_duplicates")
    # 96 texts: two copies of a 3-token text, the rest 10-40 tokens long. Length grouping sorts each
    # mega-batch by length, so the two shortest texts share a batch whatever the shuffle.
    texts = ["Oh."] * 2 + [f"text number {i}" for i in range(94)]
    lengths = [3, 3] + [10 + (i % 31) for i in range(94)]
    logged = [{"step": s, "loss": 1e-5} for s in (1, 2, 3)]
    rows, logged_with_repeats, every = script.duplicate_report(texts, lengths, 32, 0, logged, 1e-3)
    assert every == 1 and logged_with_repeats == 1
    [(step, loss, repeats, longest, closest)] = rows
    assert repeats == 1 and loss == 1e-5 and closest == 1.0
    batch = script.batch_at(step, lengths, 32, 0, {})
    assert {0, 1} <= set(batch) and longest == max(lengths[i] for i in batch)
    # A high loss is listed even without a repeat; steps past one epoch wrap into the next epoch's batches.
    second_epoch = [{"step": s, "loss": 0.5} for s in (4, 5, 6)]
    rows, logged_with_repeats, every = script.duplicate_report(texts, lengths, 32, 0, second_epoch, 1e-3)
    assert every == 2 and logged_with_repeats == 1
    assert [r[0] for r in rows] == [4, 5, 6] and sorted(r[2] for r in rows) == [0, 0, 1]
