"""``hfgate.chat.stops``: removing stop sequences as OpenAI does, also when a stream splits them."""

from __future__ import annotations

import itertools

import pytest

from hfgate.chat.stops import StopTrimmer, trim_stop


def feed_all(stops: list[str], pieces: list[str]) -> tuple[list[str], str]:
    trimmer = StopTrimmer(stops)
    out = [trimmer.feed(piece) for piece in pieces]
    return out, "".join(out) + trimmer.flush()


def test_no_stops_passes_text_through_at_once() -> None:
    out, total = feed_all([], ["Hello", " world"])
    assert out == ["Hello", " world"] and total == "Hello world"


def test_stop_inside_one_piece() -> None:
    _, total = feed_all(["END"], ["one two END three"])
    assert total == "one two "


def test_stop_split_across_pieces_never_leaks() -> None:
    out, total = feed_all(["world"], ["Hello wor", "ld! Bye"])
    assert total == "Hello "
    assert "wor" not in "".join(out)


def test_stop_split_over_many_single_characters() -> None:
    text = "alpha beta <|end|> gamma"
    _, total = feed_all(["<|end|>"], list(text))
    assert total == "alpha beta "


def test_a_prefix_that_does_not_become_a_stop_is_released() -> None:
    out, total = feed_all(["STOP"], ["keep ST", "ILL going"])
    assert total == "keep STILL going"
    assert out[0] == "keep"  # "_ST" could still become "STOP": held back


def test_the_earliest_of_several_stops_wins() -> None:
    _, total = feed_all(["zzz", "b"], ["aa", "ab", "c zzz"])
    assert total == "aaa"


def test_nothing_after_a_stop_is_emitted() -> None:
    trimmer = StopTrimmer(["."])
    assert trimmer.feed("Done. More") == "Done"
    assert trimmer.stopped
    assert trimmer.feed(" and more.") == ""
    assert trimmer.flush() == ""


def test_stop_at_the_very_start() -> None:
    _, total = feed_all(["Hi"], ["H", "i there"])
    assert total == ""


def test_empty_stop_strings_are_ignored() -> None:
    _, total = feed_all(["", "x"], ["abc"])
    assert total == "abc"


def test_unicode_stop() -> None:
    _, total = feed_all(["ñé"], ["pequeñ", "é mundo"])
    assert total == "pequeñ"[:-1]


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_any_split_equals_trimming_the_whole(size: int) -> None:
    texts = ["the model answers with a simple reply.", "no stop here at all", "stop stop"]
    stops = [["reply"], ["with a", "answers"], ["op s"], ["nothing"]]
    for text, stop in itertools.product(texts, stops):
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        assert feed_all(stop, pieces)[1] == trim_stop(text, stop)
        first = min((text.find(s) for s in stop if s in text), default=len(text))
        assert trim_stop(text, stop) == text[:first]
