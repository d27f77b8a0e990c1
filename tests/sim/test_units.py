"""The sim's pure parts: tokenizer, generation, version features, config checks."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import jsonschema
import pytest

from hfgate.sim import generation, tokenizer
from hfgate.sim.config import ConfigError, SimConfig, apply_patch
from hfgate.sim.versions import features, parse_version

SAMPLES = [
    "Hello world, how are you?",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "  leading and trailing  ",
    "héllo wörld 日本語 !! ",
    "a\n\n<s>b</s>",
    "",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_tokens_concatenate_back_to_the_text(text: str) -> None:
    assert "".join(tokenizer.split(text)) == text
    assert tokenizer.count(text) == len(tokenizer.split(text))


def test_words_carry_their_leading_space_and_specials_are_one_token() -> None:
    assert tokenizer.split("Hello world, hi") == ["Hello", " world", ",", " hi"]
    assert tokenizer.split("\n<|im_start|>x") == ["\n", "<|im_start|>", "x"]
    assert tokenizer.token_id("<s>") == tokenizer.BOS_ID == 1
    assert tokenizer.token_id("</s>") == tokenizer.EOS_ID == 2


def test_ids_are_stable_across_processes() -> None:
    # crc32, not hash(): another interpreter (another PYTHONHASHSEED) gives the same ids.
    code = "from hfgate.sim.tokenizer import token_id; print(token_id(' world'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(other.stdout) == tokenizer.token_id(" world")
    assert 3 <= tokenizer.token_id(" world") < tokenizer.VOCAB_SIZE


def test_encode_reports_byte_offsets_and_bos() -> None:
    tokens = tokenizer.encode("héllo wörld", add_bos=True)
    assert tokens[0] == tokenizer.SimpleToken(1, "", 0, 0)
    assert [(t.text, t.start, t.stop) for t in tokens[1:]] == [("héllo", 0, 6), (" wörld", 6, 13)]
    assert tokenizer.input_length("héllo wörld", add_bos=True) == 3


def test_generation_is_deterministic_and_ends_with_eos() -> None:
    one = generation.plan("What is AI?", input_length=5, max_new_tokens=100, natural=16)
    two = generation.plan("What is AI?", input_length=5, max_new_tokens=100, natural=16)
    assert one == two
    assert one.finish_reason == "eos_token" and one.generated_tokens == 16
    assert one.tokens[-1] == generation.EOS_TOKEN
    assert tokenizer.count(one.text) == 15  # every word is one token; EOS is not in the text
    assert one.seed is None  # greedy
    other = generation.plan("Something else", input_length=5, max_new_tokens=100, natural=16)
    assert other.text != one.text


def test_generation_length_and_stop_sequence() -> None:
    short = generation.plan("p", input_length=2, max_new_tokens=4, natural=16)
    assert short.finish_reason == "length" and short.generated_tokens == 4
    full = generation.plan("p", input_length=2, max_new_tokens=50, natural=30)
    stop = full.tokens[5].text.strip()
    stopped = generation.plan("p", input_length=2, max_new_tokens=50, natural=30, stop=[stop])
    assert stopped.finish_reason == "stop_sequence"
    assert stopped.text.endswith(stop)  # TGI keeps the stop sequence in the text
    assert stopped.generated_tokens <= 6


def test_sampling_uses_the_seed() -> None:
    a = generation.plan("p", input_length=2, max_new_tokens=9, natural=10, seed=1, sampling=True)
    b = generation.plan("p", input_length=2, max_new_tokens=9, natural=10, seed=2, sampling=True)
    assert a.text != b.text and a.seed == 1 and b.seed == 2
    drawn = generation.plan("p", input_length=2, max_new_tokens=9, natural=10, sampling=True)
    assert isinstance(drawn.seed, int) and 0 <= drawn.seed < 2**63


def test_version_features() -> None:
    assert parse_version("3.3.6-dev0") == (3, 3, 6)
    assert parse_version("v2.0") == (2, 0, 0)
    assert parse_version("latest") is None
    new, old, mid = features("3.3.6-dev0"), features("1.3.4"), features("2.0.4")
    assert new.chat and new.models and new.sse_space and new.info_input_tokens
    assert not old.chat and not old.completions and not old.sse_space
    assert mid.chat and not mid.models and not mid.sse_space and mid.info_router
    assert features("2.4.0").stream_error == "none" and features("2.2.0").stream_error == "native"


def test_config_checks_types_and_ranges() -> None:
    with pytest.raises(ConfigError, match="max_input_tokens"):
        SimConfig(max_input_tokens=4096, max_total_tokens=4096)
    with pytest.raises(ConfigError, match="engine"):
        SimConfig(engine="triton")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown field"):
        apply_patch(SimConfig(), {"colds_start": 1})
    with pytest.raises(ConfigError, match="token_delay"):
        apply_patch(SimConfig(), {"token_delay": "fast"})
    patched = apply_patch(SimConfig(), {"cold_start": 2, "chat_template": None})
    assert patched.cold_start == 2.0 and isinstance(patched.cold_start, float)
    assert patched.chat_template is None


def test_the_openapi_validator_is_not_vacuous(openapi: Any) -> None:
    # nullable fields accept null, and a wrong body is really refused
    openapi.validate(
        "StreamDetails",
        {"finish_reason": "length", "generated_tokens": 1, "input_length": 1, "seed": None},
    )
    with pytest.raises(jsonschema.ValidationError):
        openapi.validate("Info", {"model_id": "m"})
    with pytest.raises(jsonschema.ValidationError):
        openapi.validate(
            "StreamDetails", {"finish_reason": "stop", "generated_tokens": 1, "input_length": 1}
        )
