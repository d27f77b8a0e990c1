"""OpenAI parameters, translated into what TGI accepts (docs/protocols.md §2.5, §2.7).

The simulator validates like TGI (``top_p: 1.0`` is a 422 there), and its ``last_request`` is
the body hfgate sent, so each test checks both the translated request and the answer.
"""

from __future__ import annotations

from typing import Any

from hfgate.sim import tokenizer
from tests.chat.support import (
    Peers,
    chat,
    chat_tokens,
    chunk_text,
    expected_chat,
    expected_generate,
    sse_payloads,
)

MESSAGES = [{"role": "user", "content": "Tell me about the gateway and its tokens."}]


def _stop_word(text: str) -> str:
    """A word (with its leading space) from the middle of ``text`` that occurs there once."""
    for word in text.split()[2:]:
        stop = " " + word
        if word.isalpha() and text.count(word) == 1:
            return stop
    raise AssertionError(f"no usable stop word in {text!r}")


def _create(peers: Peers, **params: Any) -> Any:
    return peers.openai().chat.completions.create(
        model=peers.model, messages=params.pop("messages", MESSAGES), **params
    )


def test_top_p_one_is_not_sent_to_tgi(peers: Peers) -> None:
    reply = _create(peers, top_p=1.0)

    assert "top_p" not in peers.sim.last_request()
    assert reply.choices[0].message.content == expected_chat(MESSAGES).text


def test_top_p_below_one_is_forwarded(peers: Peers) -> None:
    _create(peers, top_p=0.5)

    assert peers.sim.last_request()["top_p"] == 0.5


def test_temperature_zero_is_greedy(peers: Peers) -> None:
    reply = _create(peers, temperature=0)

    assert peers.sim.last_request()["temperature"] == 0
    assert reply.choices[0].message.content == expected_chat(MESSAGES, greedy=True).text


def test_top_p_zero_means_greedy(peers: Peers) -> None:
    reply = _create(peers, top_p=0)

    request = peers.sim.last_request()
    assert "top_p" not in request
    assert request["temperature"] == 0
    assert reply.choices[0].message.content == expected_chat(MESSAGES, greedy=True).text


def test_max_tokens_cuts_the_reply_with_length(peers: Peers) -> None:
    reply = _create(peers, max_tokens=3)

    assert peers.sim.last_request()["max_tokens"] == 3
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content == expected_chat(MESSAGES, max_new_tokens=3).text
    assert reply.usage is not None and reply.usage.completion_tokens == 3


def test_max_completion_tokens_is_sent_as_max_tokens(peers: Peers) -> None:
    reply = _create(peers, max_completion_tokens=4)

    request = peers.sim.last_request()
    assert request["max_tokens"] == 4
    assert "max_completion_tokens" not in request
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 4


def test_seed_is_forwarded(peers: Peers) -> None:
    reply = _create(peers, seed=42)

    assert peers.sim.last_request()["seed"] == 42
    assert reply.choices[0].message.content == expected_chat(MESSAGES, seed=42).text
    assert expected_chat(MESSAGES, seed=42).text != expected_chat(MESSAGES, seed=43).text


def test_penalties_are_forwarded(peers: Peers) -> None:
    _create(peers, frequency_penalty=0.5, presence_penalty=0.25)

    request = peers.sim.last_request()
    assert request["frequency_penalty"] == 0.5
    assert request["presence_penalty"] == 0.25


def _seeds_sent(peers: Peers) -> list[int]:
    """The seed of every generation call the simulator received, in the order sent."""
    calls = peers.sim.recorder.generation_calls()
    assert all("n" not in call.json() for call in calls)  # each call makes one choice
    return sorted(call.json()["seed"] for call in calls)


def test_n_choices_are_n_calls_seeded_from_the_callers_seed(peers: Peers) -> None:
    reply = _create(peers, n=3, seed=42)

    plans = [expected_chat(MESSAGES, seed=42 + i) for i in range(3)]
    assert _seeds_sent(peers) == [42, 43, 44]
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert [c.message.content for c in reply.choices] == [p.text for p in plans]
    assert len({c.message.content for c in reply.choices}) == 3
    assert [c.finish_reason for c in reply.choices] == ["stop"] * 3
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == 3 * chat_tokens(MESSAGES)
    assert reply.usage.completion_tokens == sum(p.generated_tokens for p in plans)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_n_choices_stream_as_one_stream_with_a_usage_chunk_summed(peers: Peers) -> None:
    stream = _create(peers, n=2, seed=7, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)

    plans = [expected_chat(MESSAGES, seed=7 + i) for i in range(2)]
    assert _seeds_sent(peers) == [7, 8]
    texts, reasons, roles = ["", ""], [[], []], [[], []]
    for chunk in chunks[:-1]:
        (choice,) = chunk.choices  # one choice per chunk, as OpenAI streams them
        texts[choice.index] += choice.delta.content or ""
        reasons[choice.index] += [choice.finish_reason] if choice.finish_reason else []
        roles[choice.index] += [choice.delta.role] if choice.delta.role else []
    assert texts == [p.text for p in plans] and texts[0] != texts[1]
    assert reasons == [["stop"], ["stop"]]
    assert roles == [["assistant"], ["assistant"]]
    assert len({c.id for c in chunks}) == 1
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert usage.prompt_tokens == 2 * chat_tokens(MESSAGES)
    assert usage.completion_tokens == sum(p.generated_tokens for p in plans)


def test_n_choices_of_a_completion_streamed_and_not(peers: Peers) -> None:
    client, prompt = peers.openai(), "Once upon a time"
    reply = client.completions.create(model=peers.model, prompt=prompt, n=2, seed=3, max_tokens=6)
    chunks = list(
        client.completions.create(
            model=peers.model, prompt=prompt, n=2, seed=3, max_tokens=6, stream=True
        )
    )

    plans = [expected_generate(prompt, seed=3 + i, max_new_tokens=6) for i in range(2)]
    assert [c.text for c in reply.choices] == [p.text for p in plans]
    assert [c.index for c in reply.choices] == [0, 1]
    assert reply.usage is not None and reply.usage.completion_tokens == 12
    streamed = ["", ""]
    for chunk in chunks:
        for choice in chunk.choices:
            streamed[choice.index] += choice.text
    assert streamed == [p.text for p in plans]
    assert len(peers.sim.recorder.generation_calls()) == 4


def test_n_without_a_seed_lets_the_engine_draw_one_per_call(peers: Peers) -> None:
    reply = _create(peers, n=2)

    calls = peers.sim.recorder.generation_calls()
    assert len(calls) == 2 and all("seed" not in call.json() for call in calls)
    assert len(reply.choices) == 2


def test_nulls_are_not_forwarded(peers: Peers) -> None:
    with peers.client() as client:
        answer = chat(
            client,
            peers.model,
            messages=MESSAGES,
            temperature=None,
            top_p=None,
            stop=None,
            seed=None,
            max_tokens=None,
            stream=False,
            stream_options=None,
            logprobs=None,
            tools=None,
            response_format=None,
        )

    assert answer.status_code == 200, answer.text
    request = peers.sim.last_request()
    assert None not in request.values(), request
    assert request["stream"] is False


def test_developer_role_and_text_parts_reach_tgi_as_plain_messages(peers: Peers) -> None:
    messages = [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}],
        },
    ]
    _create(peers, messages=messages)

    sent = peers.sim.last_request()["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", "Be brief."),
        ("user", "Hello there"),
    ]


def test_response_format_json_schema_becomes_a_tgi_grammar(peers: Peers) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    _create(
        peers,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema},
        },
    )

    assert peers.sim.last_request()["response_format"] == {"type": "json", "value": schema}


def test_logprobs_are_forwarded_and_returned(peers: Peers) -> None:
    reply = _create(peers, logprobs=True, top_logprobs=2, max_tokens=3)

    request = peers.sim.last_request()
    assert request["logprobs"] is True and request["top_logprobs"] == 2
    logprobs = reply.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert len(logprobs.content) == 3
    assert all(len(entry.top_logprobs) == 2 for entry in logprobs.content)


# -- stop sequences: TGI keeps them in the text, OpenAI does not ---------------------------------


def test_stop_sequence_is_removed_from_the_reply(peers: Peers) -> None:
    stop = _stop_word(expected_chat(MESSAGES).text)
    reply = _create(peers, stop=[stop])

    plan = expected_chat(MESSAGES, stop=[stop])
    assert plan.finish_reason == "stop_sequence" and plan.text.endswith(stop)  # what TGI sends
    assert peers.sim.last_request()["stop"] == [stop]
    assert reply.choices[0].message.content == plan.text[: -len(stop)]
    assert reply.choices[0].finish_reason == "stop"


def test_stop_as_a_string_is_sent_as_a_list(peers: Peers) -> None:
    stop = _stop_word(expected_chat(MESSAGES).text)
    reply = _create(peers, stop=stop)

    assert peers.sim.last_request()["stop"] == [stop]
    assert stop not in (reply.choices[0].message.content or "")


def test_stop_sequence_is_removed_from_a_stream(peers: Peers) -> None:
    stop = _stop_word(expected_chat(MESSAGES).text)
    with peers.client() as client:
        answer = chat(client, peers.model, messages=MESSAGES, stop=[stop], stream=True)
    payloads = sse_payloads(answer.text)

    plan = expected_chat(MESSAGES, stop=[stop])
    assert chunk_text(payloads) == plan.text[: -len(stop)]
    reasons = [p["choices"][0]["finish_reason"] for p in payloads if isinstance(p, dict)]
    assert [r for r in reasons if r] == ["stop"]
    assert payloads[-1] == "[DONE]"


def test_stop_split_across_streamed_tokens_is_removed(peers: Peers) -> None:
    """A stop sequence spanning two tokens arrives in two chunks; none of it may leak."""
    words = expected_chat(MESSAGES).text.split()
    stop = f"{words[3]} {words[4]}"
    assert stop.replace(" ", "").isalpha()
    with peers.client() as client:
        answer = chat(client, peers.model, messages=MESSAGES, stop=[stop], stream=True)

    plan = expected_chat(MESSAGES, stop=[stop])
    assert plan.text.endswith(stop)
    assert chunk_text(sse_payloads(answer.text)) == plan.text[: plan.text.find(stop)]


def test_unmatched_stop_keeps_the_whole_reply(peers: Peers) -> None:
    reply = _create(peers, stop=["zebra"])

    assert reply.choices[0].message.content == expected_chat(MESSAGES).text
    assert reply.choices[0].finish_reason == "stop"


def test_completion_stop_is_removed(peers: Peers) -> None:
    prompt = "Write about streams"
    stop = _stop_word(expected_generate(prompt).text)
    reply = peers.openai().completions.create(model=peers.model, prompt=prompt, stop=[stop])

    plan = expected_generate(prompt, stop=[stop])
    assert plan.finish_reason == "stop_sequence"
    assert peers.sim.last_request()["parameters"]["stop"] == [stop]
    assert reply.choices[0].text == plan.text[: -len(stop)]
    assert reply.choices[0].finish_reason == "stop"


def test_completion_stream_finish_reasons_are_openai_values(peers: Peers) -> None:
    prompt = "Write about streams"
    stop = _stop_word(expected_generate(prompt).text)
    with peers.client() as client:
        eos = client.post(
            "/v1/completions", json={"model": peers.model, "prompt": prompt, "stream": True}
        )
        stopped = client.post(
            "/v1/completions",
            json={"model": peers.model, "prompt": prompt, "stream": True, "stop": [stop]},
        )

    for answer, text in (
        (eos, expected_generate(prompt).text),
        (stopped, expected_generate(prompt, stop=[stop]).text[: -len(stop)]),
    ):
        payloads = sse_payloads(answer.text)
        reasons = [
            p["choices"][0]["finish_reason"]
            for p in payloads
            if isinstance(p, dict) and p["choices"]
        ]
        assert [r for r in reasons if r] == ["stop"]
        assert chunk_text(payloads) == text
        assert all(p["id"].startswith("cmpl-") for p in payloads if isinstance(p, dict))


def test_chat_usage_counts_match_the_tokenizer(peers: Peers) -> None:
    reply = _create(peers, max_tokens=7)

    prompt_tokens = tokenizer.input_length(
        "<|im_start|>user\n" + MESSAGES[0]["content"] + "<|im_end|>\n<|im_start|>assistant\n",
        add_bos=False,
    )
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (prompt_tokens, 7)
