"""Parsing the pasted credential: every rule of docs/protocols.md §4.1, one exact field and
message each."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hfgate.errors import CredentialInvalid
from hfgate.integrations.credential import (
    Credential,
    ParsedCredential,
    mask_secret,
    missing_message,
    normalise_endpoint,
    parse_credential,
)
from hfgate.upstream.netguard import HostPolicy

KEY = "hf_fake_Zq7LmN2pR8sT4vW6xY1aB3cD5eF9gH0x9Qa"
ENDPOINT = "https://abc123.us-east-1.aws.endpoints.huggingface.cloud"
MODEL = "meta-llama/Llama-2-7b-chat-hf"
VALID: dict[str, Any] = {
    "api_key": KEY,
    "endpoint": ENDPOINT,
    "model_name": MODEL,
    "context_window": 4096,
}
OPEN = HostPolicy()


def parse(raw: Any, policy: HostPolicy = OPEN) -> ParsedCredential:
    parsed = parse_credential(raw, policy)
    assert (parsed.credential is None) == bool(parsed.problems)
    return parsed


def with_(**changes: Any) -> dict[str, Any]:
    return {**VALID, **changes}


def only_problem(raw: Any, policy: HostPolicy = OPEN) -> tuple[str | None, str]:
    parsed = parse(raw, policy)
    assert len(parsed.problems) == 1, parsed.problems
    return parsed.problems[0].field, parsed.problems[0].message


def assert_words(message: str, *words: str) -> None:
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


# ---- the happy path ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(VALID),
        json.dumps(VALID, indent=2).encode(),
        b"\xef\xbb\xbf" + json.dumps(VALID).encode(),  # a BOM from a Windows editor
        VALID,
    ],
    ids=["str", "bytes", "bytes-bom", "mapping"],
)
def test_a_valid_credential_round_trips(raw: Any) -> None:
    parsed = parse(raw)
    assert parsed.problems == ()
    assert parsed.notes == ()
    assert parsed.credential == Credential(KEY, ENDPOINT, MODEL, 4096, MODEL)


def test_name_is_kept_when_given() -> None:
    parsed = parse(with_(name="llama-2/chat:7b"))
    assert parsed.credential is not None
    assert parsed.credential.name == "llama-2/chat:7b"
    assert parsed.credential.model_name == MODEL


@pytest.mark.parametrize("window", [1, 4096, 10_000_000])
def test_context_window_bounds_are_inclusive(window: int) -> None:
    parsed = parse(with_(context_window=window))
    assert parsed.credential is not None
    assert parsed.credential.context_window == window


def test_the_key_stays_out_of_repr() -> None:
    parsed = parse(VALID)
    assert KEY not in repr(parsed)
    assert KEY not in repr(parsed.credential)


@pytest.mark.parametrize(
    ("secret", "masked"),
    [
        (KEY, "hf_…x9Qa"),
        ("hf_0123456789abcdefg", "hf_…defg"),  # 20 characters: the first long enough
        ("hf_0123456789abcdef", "…ef"),
        ("abcdefgh", "…gh"),
        ("abcdefg", "…"),
        ("", "…"),
    ],
)
def test_mask_secret(secret: str, masked: str) -> None:
    assert mask_secret(secret) == masked
    assert len(masked.replace("…", "")) <= 7


def test_masked_key() -> None:
    parsed = parse(VALID)
    assert parsed.credential is not None
    assert parsed.credential.masked_key() == "hf_…x9Qa"


def test_require_returns_the_credential_or_raises_with_every_problem() -> None:
    assert parse(VALID).require().api_key == KEY
    with pytest.raises(CredentialInvalid) as caught:
        parse(with_(context_window=0, model_name="gpt2")).require()
    body = caught.value.to_body()["error"]
    assert body["code"] == "invalid_credential"
    assert [p["field"] for p in body["problems"]] == ["model_name", "context_window"]
    assert_words(body["message"], "`model_name`", "`context_window`")


# ---- the document ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", ["The credential is empty", "paste the JSON"]),
        ("  \n\t", ["The credential is empty"]),
        (b"", ["The credential is empty"]),
        (
            '{"api_key": "hf_x"\n "endpoint": 1}',
            ["not valid JSON", "Expecting ',' delimiter at line 2, column 2."],
        ),
        ("{'api_key': 'hf_x'}", ["line 1, column 2", "Python dict", "double quotes"]),
        ('{"context_window": 4096,}', ["not valid JSON", "trailing comma"]),
        ('{"context_window": 4096,\n}', ["line 2, column 1", "trailing comma"]),
        ('{"a": [1, 2,]}', ["trailing comma"]),
        ('{"name": True}', ["true, false and null in lower case"]),
        ('{"name": None}', ["lower case"]),
        ('{"name": “x”}', ["curly quotes"]),
        ("{api_key: 1}", ["field name in double quotes"]),
        ('{"a": 1} trailing', ["Extra data", "text after the closing }"]),
        ('{"api_key": "hf_x\ny"}', ["Invalid control character at line 1", "raw line break"]),
        ("[" * 100_000, ["nesting too deep"]),
        ('{"context_window": 1' + "0" * 5000 + "}", ["number is too long"]),
        (b'{"api_key": "\xff"}', ["not UTF-8", "byte 0xff at offset 13"]),
        ("[1, 2]", ["must be a JSON object {...}", "not a list"]),
        ('"hf_x"', ["must be a JSON object", "not a string"]),
        ("4096", ["not a number"]),
        ("null", ["not null"]),
    ],
)
def test_document_problems(raw: str | bytes, words: list[str]) -> None:
    field, message = only_problem(raw)
    assert field is None
    assert_words(message, *words)


@pytest.mark.parametrize("name", ["api_key", "endpoint", "model_name"])
def test_a_missing_field_is_named_with_an_example(name: str) -> None:
    document = {k: v for k, v in VALID.items() if k != name}
    field, message = only_problem(document)
    assert field == name
    assert_words(message, f"`{name}` is missing: add", f'e.g. "{name}": ')


def test_context_window_may_be_left_out_until_the_engine_is_known() -> None:
    # Only a TEI endpoint may do without it: validation decides (test_engines_validation.py).
    parsed = parse({k: v for k, v in VALID.items() if k != "context_window"})
    assert parsed.problems == () and parsed.credential is not None
    assert parsed.credential.context_window is None


def test_the_missing_context_window_message() -> None:
    assert missing_message("context_window") == (
        "`context_window` is missing: add the model's context length in tokens,"
        ' e.g. "context_window": 4096.'
    )


@pytest.mark.parametrize(
    ("wrong", "meant"),
    [
        ("apikey", "api_key"),
        ("API_KEY", "api_key"),
        ("api-key", "api_key"),
        ("token", "api_key"),
        ("hf_token", "api_key"),
        ("Endpoint", "endpoint"),
        ("endpont", "endpoint"),
        ("url", "endpoint"),
        ("base_url", "endpoint"),
        ("model-name", "model_name"),
        ("modelName", "model_name"),
        ("model", "model_name"),
        ("model_id", "model_name"),
        ("contextWindow", "context_window"),
        ("context-window", "context_window"),
        ("context_windw", "context_window"),
        ("max_total_tokens", "context_window"),
    ],
)
def test_a_near_miss_suggests_the_field_and_stands_in_for_it(wrong: str, meant: str) -> None:
    document = {k: v for k, v in VALID.items() if k != meant} | {wrong: VALID[meant]}
    field, message = only_problem(document)  # no second "`meant` is missing"
    assert field == wrong
    assert message == f"Unknown field `{wrong}`: did you mean `{meant}`?"


def test_a_near_miss_of_the_optional_name() -> None:
    field, message = only_problem(with_(nmae="x"))
    assert (field, message) == ("nmae", "Unknown field `nmae`: did you mean `name`?")


@pytest.mark.parametrize("extra", [{"foo": 1}, {"model": "x"}, {"temperature": 0.7}])
def test_an_unknown_field_lists_the_known_ones(extra: dict[str, Any]) -> None:
    # "model" next to a real model_name is not a misspelling of it.
    field, message = only_problem(VALID | extra)
    assert field == next(iter(extra))
    assert message == (
        f"Unknown field `{field}`: the credential has only api_key, endpoint, model_name,"
        " context_window (optional for TEI endpoints) and the optional name."
    )


def test_an_unknown_field_name_that_looks_like_a_token_is_not_repeated() -> None:
    field, message = only_problem(VALID | {"hf_OtherSecretToken123456": 1})
    assert field is None
    assert "OtherSecret" not in message
    assert_words(message, "looks like a token", "`api_key`")


def test_a_repeated_field_is_reported() -> None:
    raw = json.dumps(VALID)[:-1] + ', "context_window": 8192}'
    field, message = only_problem(raw)
    assert field == "context_window"
    assert_words(message, "more than once", "keep only one")


# ---- types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("4096", ["must be an integer, not a string: write 4096 without quotes."]),
        (" 4,096 ", ["not a string: write 4096 without quotes"]),
        ("4k", ["not a string", "e.g. 4096"]),
        (4096.0, ["must be an integer, not 4096.0: write 4096."]),
        (4096.5, ["not 4096.5", "round it to a whole number"]),
        (True, ["must be an integer, not a boolean"]),
        (None, ["must be an integer, not null"]),
        ([4096], ["not a list"]),
        ({"tokens": 4096}, ["not an object"]),
        (0, ["must be between 1 and 10,000,000 tokens; got 0."]),
        (-5, ["got -5."]),
        (10_000_001, ["got 10,000,001."]),
        (10**40, ["far outside that range"]),
        (1e300, ["got 1e+300"]),
        (float("nan"), ["got nan"]),
    ],
)
def test_context_window_problems(value: Any, words: list[str]) -> None:
    field, message = only_problem(with_(context_window=value))
    assert field == "context_window"
    assert_words(message, *words)


@pytest.mark.parametrize("name", ["api_key", "endpoint", "model_name", "name"])
@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "must be a string, not null"),
        (42, "must be a string, not a number"),
        (False, "must be a string, not a boolean"),
        ({"a": 1}, "must be a string, not an object"),
        (["x"], "must be a string, not a list"),
        ("", "is empty: write"),
        ("  ", "is empty: write"),
    ],
)
def test_string_fields_refuse_other_types(name: str, value: Any, words: str) -> None:
    field, message = only_problem(with_(**{name: value}))
    assert field == name
    assert_words(message, f"`{name}` {words}", f'"{name}": ')


# ---- api_key -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (f" {KEY}", "has spaces or a line break pasted around it: remove them"),
        (f"{KEY}\n", "line break"),
        (f"{KEY}\r\n", "line break"),
        (f'"{KEY}"', "has quotes pasted around it"),
        (f"'{KEY}'", "has quotes pasted around it"),
        (f"“{KEY}”", "has quotes pasted around it"),
        (f"{KEY}'", "has quotes pasted around it"),
        (f"Bearer {KEY}", "paste the token only, without `Bearer `"),
        (f"bearer {KEY}", "without `Bearer `"),
        (f"Authorization: Bearer {KEY}", "without `Bearer `"),
        ("hf_abc def", "contains a space"),
        ("hf_abc\tdef", "control or invisible character"),
        ("hf_abc\r\nX-Injected: 1", "control or invisible character"),
        ("hf_abc\u200bdef", "control or invisible character"),
        ("hf_abcdéf", "non-ASCII character"),
    ],
)
def test_api_key_problems(value: str, words: str) -> None:
    field, message = only_problem(with_(api_key=value))
    assert field == "api_key"
    assert_words(message, "`api_key`", words)


def test_an_api_key_without_hf_prefix_is_only_a_note() -> None:
    parsed = parse(with_(api_key="sk-custom-0123456789abcdef"))
    assert parsed.credential is not None
    assert parsed.credential.api_key == "sk-custom-0123456789abcdef"
    assert len(parsed.notes) == 1
    assert_words(parsed.notes[0], "api_key does not start with hf_")
    assert "sk-custom" not in parsed.notes[0]


# ---- header injection and secrets --------------------------------------------------------


@pytest.mark.parametrize("name", ["api_key", "endpoint", "model_name", "name"])
@pytest.mark.parametrize(
    ("suffix", "words"),
    [("\r\nX-Injected: 1", "control or invisible character"), ("\r\n", "line break")],
)
def test_crlf_never_passes_in_any_string_field(name: str, suffix: str, words: str) -> None:
    value = (VALID.get(name) or "llama") + suffix
    field, message = only_problem(with_(**{name: value}))
    assert field == name
    assert_words(message, words)


SECRET_LEAKS = [
    with_(api_key=f" {KEY} "),
    with_(api_key=f"Bearer {KEY}"),
    with_(api_key=f'"{KEY}"'),
    with_(api_key=f"{KEY}\r\nX: 1"),
    with_(api_key=KEY[:-1] + "é"),
    with_(api_key=KEY.replace("hf_", "sk_")),
    with_(endpoint=f"{ENDPOINT}/{KEY}/v1/chat/completions"),
    with_(endpoint=f"https://user:{KEY}@example.com"),
    with_(endpoint=f"{ENDPOINT}?token={KEY}"),
    with_(endpoint=f"http://{KEY.lower()}.example.com"),
    with_(model_name=f"https://huggingface.co/org/{KEY}"),
    with_(model_name=KEY),
    with_(name=KEY),
    with_(context_window=KEY),
    {KEY: "x", "endpoint": ENDPOINT},
    {"apikey": KEY, "endpoint": ENDPOINT},
]


@pytest.mark.parametrize("document", SECRET_LEAKS)
def test_the_key_appears_in_no_problem_or_note(document: dict[str, Any]) -> None:
    parsed = parse(document)
    texts = [p.message for p in parsed.problems] + [str(p.field) for p in parsed.problems]
    texts += list(parsed.notes)
    assert texts, "each case should say something"
    for text in texts:
        for fragment in (KEY, KEY.lower(), KEY[3:12], KEY[-12:-4]):
            assert fragment not in text


# ---- endpoint ----------------------------------------------------------------------------


ROUTES = [
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/models",
    "/chat/completions",
    "/v1",
    "/generate_stream",
    "/generate",
    "/info",
    "/health",
    "/tokenize",
    "/chat_tokenize",
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("slash", ["", "/"])
def test_a_route_suffix_is_removed_with_a_note(route: str, slash: str) -> None:
    base, note = normalise_endpoint(ENDPOINT + route + slash)
    assert base == ENDPOINT
    assert note == (
        f"endpoint: removed the route `{route}` from the URL;"
        f" hfgate stores the base {ENDPOINT} and adds routes itself."
    )


@pytest.mark.parametrize(
    ("url", "base", "words"),
    [
        (ENDPOINT, ENDPOINT, None),
        (ENDPOINT + "/", ENDPOINT, None),
        (ENDPOINT + "//", ENDPOINT, None),
        (ENDPOINT + "/deepfloyd-if", ENDPOINT + "/deepfloyd-if", None),
        (ENDPOINT + "/deepfloyd-if/", ENDPOINT + "/deepfloyd-if", None),
        (ENDPOINT + "/deepfloyd-if/v1/", ENDPOINT + "/deepfloyd-if", "removed the route `/v1`"),
        (ENDPOINT + "/my-info", ENDPOINT + "/my-info", None),
        ("https://api.example.com:8443/x", "https://api.example.com:8443/x", None),
        ("HTTPS://API.Example.com/Custom", "https://api.example.com/Custom", "wrote `HTTPS://API"),
        ("https://api.example.com:443", "https://api.example.com", "as `https://api.example.com`"),
        ("http://sim.test:80/v1", "http://sim.test", "removed the route `/v1`"),
        ("http://sim.test:443", "http://sim.test:443", None),
        ("https://bücher.example/x", "https://xn--bcher-kva.example/x", "xn--bcher-kva"),
        ("https://[::1]:8080/generate", "https://[::1]:8080", "removed the route `/generate`"),
        ("https://API.example.com./", "https://api.example.com", "wrote"),
    ],
)
def test_endpoint_normalisation(url: str, base: str, words: str | None) -> None:
    normalised, note = normalise_endpoint(url)
    assert normalised == base
    if words is None:
        assert note is None
    else:
        assert note is not None
        assert_words(note, "endpoint: ", words, f"stores the base {base}")


def test_the_normalisation_note_reaches_the_report() -> None:
    parsed = parse(with_(endpoint=ENDPOINT + "/v1/chat/completions"))
    assert parsed.credential is not None
    assert parsed.credential.endpoint == ENDPOINT
    assert parsed.notes == (
        "endpoint: removed the route `/v1/chat/completions` from the URL;"
        f" hfgate stores the base {ENDPOINT} and adds routes itself.",
    )


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (
            "abc123.us-east-1.aws.endpoints.huggingface.cloud",
            ["absolute URL like https://", "add https://"],
        ),
        ("/v1/chat/completions", ["absolute URL"]),
        ("localhost:8080", ["absolute URL", "add https://"]),
        ("ftp://example.com", ["absolute URL", "must start with https://"]),
        ("https://", ["the host is missing"]),
        ("https:///path", ["the host is missing"]),
        ("https://example.com:99999", ["check the host and the port"]),
        ("https://example.com:abc", ["check the host and the port"]),
        ("https://[::1", ["check the host and the port"]),
        ("https://user:pass@example.com", ["user name or password", "`api_key`"]),
        ("https://user@example.com", ["user name or password"]),
        ("https://example.com/?x=1", ["query string or fragment", "remove everything"]),
        ("https://example.com?", ["query string"]),
        ("https://example.com/#top", ["fragment"]),
        ("https://exa$mple.com", ["invalid host name"]),
        ("https://99999999999", ["invalid host name"]),
        ("https://☃.net", ["invalid host name"]),
    ],
)
def test_endpoint_shape_problems(url: str, words: list[str]) -> None:
    with pytest.raises(ValueError) as caught:
        normalise_endpoint(url)
    assert_words(str(caught.value), "`endpoint`", *words)
    field, message = only_problem(with_(endpoint=url))
    assert (field, message) == ("endpoint", str(caught.value))


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (f" {ENDPOINT}", "pasted around it"),
        (f"{ENDPOINT}\n", "line break"),
        ("https://exa mple.com", "contains a space"),
        ("http://example.com", "plain http:// is refused for example.com"),
        ("http://localhost:8080", "localhost is a loopback host name"),
        ("https://localhost:8080", "loopback"),
        ("https://app.localhost", "loopback"),
        ("https://127.0.0.1:8080", "127.0.0.1 is a loopback address"),
        ("https://[::1]/", "loopback"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://10.0.0.1", "a private address"),
        ("https://192.168.1.1", "a private address"),
        ("https://169.254.169.254/latest/meta-data", "the cloud metadata address"),
        ("https://[fd00:ec2::254]", "the cloud metadata address"),
        ("https://100.64.0.1", "carrier-grade NAT"),
        ("https://0.0.0.0", "unspecified"),
        ("https://2130706433", "loopback"),
    ],
)
def test_endpoint_policy_problems(url: str, words: str) -> None:
    field, message = only_problem(with_(endpoint=url))
    assert field == "endpoint"
    assert_words(message, "`endpoint`", words)
    if "is refused" in message and "http://" not in words:
        assert "HFGATE_ALLOW_HOSTS" in message


@pytest.mark.parametrize(
    ("allow", "url", "base"),
    [
        (["localhost"], "http://localhost:8080/v1", "http://localhost:8080"),
        (["127.0.0.0/8"], "http://127.0.0.1:3000", "http://127.0.0.1:3000"),
        (["::1"], "http://[::1]:3000/", "http://[::1]:3000"),
        (["10.0.0.0/8"], "https://10.1.2.3/gen", "https://10.1.2.3/gen"),
        (["sim.internal"], "http://SIM.internal:8080", "http://sim.internal:8080"),
    ],
)
def test_allowlisted_endpoints_are_accepted(allow: list[str], url: str, base: str) -> None:
    parsed = parse(with_(endpoint=url), HostPolicy(allow))
    assert parsed.credential is not None
    assert parsed.credential.endpoint == base


def test_public_ip_endpoints_are_accepted() -> None:
    for url in ("https://8.8.8.8", "https://[2606:4700::1111]:8443/x"):
        assert parse(with_(endpoint=url)).credential is not None


# ---- model_name --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [MODEL, "Qwen/Qwen2.5-7B-Instruct", "a_b/c.d", "1org/2name", "org/" + "x" * 96]
)
def test_valid_model_names(value: str) -> None:
    parsed = parse(with_(model_name=value))
    assert parsed.credential is not None
    assert parsed.credential.model_name == value


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (f"https://huggingface.co/{MODEL}", f"use the repo id `{MODEL}`, not the URL."),
        (f"https://huggingface.co/{MODEL}/tree/main", f"use the repo id `{MODEL}`"),
        (f"huggingface.co/{MODEL}", f"use the repo id `{MODEL}`"),
        (f"https://hf.co/{MODEL}?x=1", f"use the repo id `{MODEL}`"),
        ("https://example.com/org/name", "must be a Hub repo id like"),
        ("https://huggingface.co/", "not a URL"),
        ("gpt2", "needs the organisation too"),
        ("a/b/c", "must be a Hub repo id org/name: one /"),
        ("-org/name", "starts with a letter or digit"),
        ("org/-name", "starts with a letter or digit"),
        ("org/", "must be a Hub repo id"),
        ("/name", "must be a Hub repo id"),
        ("org--x/name", "no -- or .."),
        ("org/na..me", "no -- or .."),
        ("org/na$me", "only letters, digits"),
        ("org/" + "x" * 97, "at most 96 characters"),
        ("org/ name", "contains a space"),
    ],
)
def test_model_name_problems(value: str, words: str) -> None:
    field, message = only_problem(with_(model_name=value))
    assert field == "model_name"
    assert_words(message, "`model_name`", words)


# ---- name --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["llama-2-chat", "team/llama:8b", "a.b_c", "x" * 128, "7"])
def test_valid_names(value: str) -> None:
    parsed = parse(with_(name=value))
    assert parsed.credential is not None
    assert parsed.credential.name == value


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("/llama", "must not start or end with /"),
        ("llama/", "must not start or end with /"),
        ("a//b", "nor contain //"),
        ("a/../b", "/../"),
        ("..", "/../"),
        ("a/./b", "/./"),
        ("a b", "contains a space"),
        (" llama", "pasted around it"),
        ("x" * 129, "has 129 characters: use at most 128"),
        ("llamé", "only letters, digits and . _ : / -"),
        ("a?b", "only letters, digits"),
        ("a%2Fb", "only letters, digits"),
        ("", "is empty"),
    ],
)
def test_name_problems(value: str, words: str) -> None:
    field, message = only_problem(with_(name=value))
    assert field == "name"
    assert_words(message, "`name`", words)


# ---- everything at once ------------------------------------------------------------------


def test_all_problems_are_collected_at_once() -> None:
    parsed = parse(
        {
            "api_key": f"Bearer {KEY}",
            "endpoint": "http://localhost:8080",
            "model_name": "gpt2",
            "name": "/x",
            "temprature": 0.7,
        }
    )
    assert parsed.credential is None
    fields = [p.field for p in parsed.problems]
    assert fields == ["temprature", "api_key", "endpoint", "model_name", "name"]
    assert len({p.message for p in parsed.problems}) == len(fields)
    for problem in parsed.problems:
        assert f"`{problem.field}`" in problem.message


@pytest.mark.parametrize(
    "changes",
    [
        {"name": KEY},
        {"model_name": f"org/{KEY}"},
        {"endpoint": f"{ENDPOINT}/{KEY}"},
        {"endpoint": f"https://{KEY.lower()}.example.com"},
    ],
)
def test_the_key_pasted_into_a_shown_field_is_refused(changes: dict[str, str]) -> None:
    field, message = only_problem(with_(**changes))
    assert field == next(iter(changes))
    assert message == f"`{field}` contains the api_key: the token belongs only in `api_key`."


@pytest.mark.parametrize(
    "url",
    [
        ENDPOINT + "/v1/chat/completions",
        ENDPOINT + "/v1/v1/",
        "HTTPS://Bücher.Example:443/custom/generate",
        "http://[::1]:80/info",
    ],
)
def test_normalising_a_stored_base_changes_nothing(url: str) -> None:
    # Stored credentials are parsed again when they are used.
    base, _ = normalise_endpoint(url)
    assert normalise_endpoint(base) == (base, None)


def test_stacked_routes_are_all_removed() -> None:
    base, note = normalise_endpoint(ENDPOINT + "/v1/v1/")
    assert base == ENDPOINT
    assert_words(note or "", "removed the route `/v1/v1`")
