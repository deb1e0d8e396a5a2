"""The HTTP/1.1 message handling of the transport, on byte strings alone (no sockets)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pusherable.backends.http11 import (
    MAX_HEAD_SIZE,
    ChunkedDecoder,
    IncompleteResponse,
    MalformedResponse,
    NoResponse,
    Response,
    ResponseParser,
    StatusLine,
    encode_request,
    host_header,
    keeps_alive,
    parse_chunk_size,
    parse_head,
    parse_header_lines,
    parse_status_line,
)

# -- requests ------------------------------------------------------------------------------


def test_a_post_request_is_one_block_of_bytes():
    data = encode_request(
        "POST",
        "/apps/1/events?auth_key=k",
        {"X-Pusher-Library": "pusher-http-python 3.3.4", "Content-Type": "application/json"},
        b'{"a":1}',
        host="api.example.com:8080",
    )
    assert data == (
        b"POST /apps/1/events?auth_key=k HTTP/1.1\r\n"
        b"Host: api.example.com:8080\r\n"
        b"X-Pusher-Library: pusher-http-python 3.3.4\r\n"
        b"Content-Type: application/json\r\n"
        b"Accept-Encoding: identity\r\n"
        b"Content-Length: 7\r\n"
        b'\r\n{"a":1}'
    )


def test_a_bodiless_get_has_no_content_length():
    data = encode_request("GET", "/apps/1/channels", {}, b"", host="h")
    assert data == b"GET /apps/1/channels HTTP/1.1\r\nHost: h\r\nAccept-Encoding: identity\r\n\r\n"


def test_an_empty_post_says_its_length():
    assert b"Content-Length: 0\r\n" in encode_request("POST", "/", {}, b"", host="h")


def test_headers_given_by_the_caller_win():
    data = encode_request(
        "POST",
        "/",
        {"host": "other", "Accept-Encoding": "gzip", "CONTENT-LENGTH": "2"},
        b"{}",
        host="h",
    )
    head = data.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert head == [
        b"POST / HTTP/1.1",
        b"host: other",
        b"Accept-Encoding: gzip",
        b"CONTENT-LENGTH: 2",
    ]


@pytest.mark.parametrize(
    ("method", "target", "headers", "match"),
    [
        ("PO ST", "/", {}, "method"),
        ("", "/", {}, "method"),
        ("POST", "/ HTTP/1.1\r\nX-Evil: 1\r\n", {}, "target"),
        ("POST", "/a b", {}, "target"),
        ("POST", "", {}, "target"),
        ("POST", "/", {"X-Evil\r\nHost": "x"}, "header name"),
        ("POST", "/", {"X-A": "1\r\nX-Evil: 2"}, "value"),
        ("POST", "/", {"X-A": "1\nX-Evil: 2"}, "value"),
        ("POST", "/", {"X-A": "\x00"}, "value"),
        ("POST", "/", {"X-A": "€"}, "Latin-1"),
    ],
)
def test_a_request_that_would_smuggle_a_line_is_refused(method, target, headers, match):
    with pytest.raises(ValueError, match=match):
        encode_request(method, target, headers, b"", host="h")


def test_a_tab_in_a_header_value_is_allowed():
    assert b"X-A: a\tb\r\n" in encode_request("GET", "/", {"X-A": "a\tb"}, b"", host="h")


@pytest.mark.parametrize(
    ("host", "port", "default", "expected"),
    [
        ("api.pusherapp.com", 443, 443, "api.pusherapp.com"),
        ("api.pusherapp.com", 8443, 443, "api.pusherapp.com:8443"),
        ("127.0.0.1", 80, 80, "127.0.0.1"),
        ("::1", 8000, 80, "[::1]:8000"),
        ("::1", 80, 80, "[::1]"),
        ("bücher.example", 80, 80, "xn--bcher-kva.example"),
    ],
)
def test_host_header(host, port, default, expected):
    assert host_header(host, port, default) == expected


# -- status lines and headers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("HTTP/1.1 200 OK", StatusLine(1, 200, "OK")),
        ("HTTP/1.0 404 Not Found", StatusLine(0, 404, "Not Found")),
        ("HTTP/1.1 200", StatusLine(1, 200, "")),
        ("HTTP/1.1 200 ", StatusLine(1, 200, "")),
        ("HTTP/1.1 599 Odd\tbut fine", StatusLine(1, 599, "Odd\tbut fine")),
        ("HTTP/1.2 200 OK", StatusLine(1, 200, "OK")),  # read as the highest we speak
    ],
)
def test_status_lines(line, expected):
    assert parse_status_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "",
        "HTTP/2 200 OK",
        "HTTP/2.0 200 OK",
        "HTTP/1.1 20 OK",
        "HTTP/1.1 2000 OK",
        "HTTP/1.1 099 Low",
        "HTTP/1.1  200 OK",
        "http/1.1 200 OK",
        "ICY 200 OK",
        "HTTP/1.1 200 O\x00K",
        "HTTP/1.1 200 OK\r",
    ],
)
def test_malformed_status_lines(line):
    with pytest.raises(MalformedResponse, match="status"):
        parse_status_line(line)


def test_header_names_are_case_insensitive_and_repeats_are_joined():
    headers = parse_header_lines(
        ["Content-Type:application/json", "X-A: 1 ", "x-a:\t2", "Empty:", "VIA: a, b"]
    )
    assert headers == {
        "content-type": "application/json",
        "x-a": "1, 2",
        "empty": "",
        "via": "a, b",
    }


def test_a_folded_header_line_continues_the_value():
    assert parse_header_lines(["X-A: one", "  two", "\tthree"]) == {"x-a": "one two three"}


@pytest.mark.parametrize(
    "lines",
    [
        ["no colon"],
        ["Name : space before the colon"],
        [": no name"],
        ["Bad\x01Name: x"],
        [" folded first"],
        ["X-A: control \x01 character"],
        ["X-A: ok", " folded \x7f"],
    ],
)
def test_malformed_header_lines(lines):
    with pytest.raises(MalformedResponse):
        parse_header_lines(lines)


def test_the_header_count_is_bounded():
    lines = [f"X-{n}: {n}" for n in range(100)]
    assert len(parse_header_lines(lines)) == 100
    with pytest.raises(MalformedResponse, match="More than 100 header fields"):
        parse_header_lines([*lines, "X-One-More: 1"])
    with pytest.raises(MalformedResponse, match="More than 3"):
        parse_head(b"HTTP/1.1 200 OK\r\n" + b"A: 1\r\n" * 4 + b"\r\n", max_headers=3)


header_names = st.text(
    alphabet="!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    min_size=1,
    max_size=12,
)
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=20,
)


@given(
    fields=st.lists(st.tuples(header_names, header_values), max_size=12),
    folded=st.booleans(),
    line_end=st.sampled_from(["\r\n", "\n"]),
)
def test_parse_head_agrees_with_the_line_parser(fields, folded, line_end):
    # parse_head has a fast path for the usual head; it must read every head
    # as the line by line parser does.
    lines = [f"{name}: {value}" for name, value in fields]
    if folded and lines:
        lines.append(" folded")
    head = line_end.join(["HTTP/1.1 200 OK", *lines, "", ""]).encode("latin-1")
    status, headers = parse_head(head)
    assert status == StatusLine(1, 200, "OK")
    assert headers == parse_header_lines(lines)


@pytest.mark.parametrize(
    ("minor", "connection", "expected"),
    [
        (1, None, True),
        (1, "close", False),
        (1, "Keep-Alive, CLOSE", False),
        (1, "keep-alive", True),
        (1, "upgrade", True),
        (0, None, False),
        (0, "keep-alive", True),
        (0, " Keep-Alive ", True),
        (0, "close", False),
        (0, "upgrade", False),
    ],
)
def test_keep_alive_rules(minor, connection, expected):
    headers = {} if connection is None else {"connection": connection}
    assert keeps_alive(minor, headers) is expected


# -- chunked bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "size"),
    [(b"0", 0), (b"1a", 26), (b"1A", 26), (b"ff;name=value", 255), (b"10 ;x", 16)],
)
def test_chunk_sizes(line, size):
    assert parse_chunk_size(line) == size


@pytest.mark.parametrize("line", [b"", b" ", b"-1", b"+1", b"0x10", b"1_0", b"g", b"1" * 17])
def test_malformed_chunk_sizes(line):
    with pytest.raises(MalformedResponse, match="chunk size"):
        parse_chunk_size(line)


def encode_chunked(
    body: bytes,
    sizes: list[int],
    *,
    extensions: bool = False,
    trailers: tuple[tuple[str, str], ...] = (),
    line_end: bytes = b"\r\n",
) -> bytes:
    out = []
    position = 0
    for size in sizes:
        piece = body[position : position + size]
        position += len(piece)
        if not piece:
            continue
        extension = b";ext=1" if extensions else b""
        out.append(b"%x%s%s%s%s" % (len(piece), extension, line_end, piece, line_end))
    if position < len(body):
        rest = body[position:]
        out.append(b"%x%s%s%s" % (len(rest), line_end, rest, line_end))
    out.append(b"0" + line_end)
    out.extend(f"{name}: {value}".encode("latin-1") + line_end for name, value in trailers)
    out.append(line_end)
    return b"".join(out)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


@given(
    body=st.binary(max_size=300),
    sizes=st.lists(st.integers(min_value=1, max_value=64), max_size=20),
    extensions=st.booleans(),
    trailers=st.lists(st.tuples(header_names, header_values), max_size=3),
    line_end=st.sampled_from([b"\r\n", b"\n"]),
    after=st.binary(max_size=10),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=30),
)
def test_chunked_round_trip_split_anywhere(
    body, sizes, extensions, trailers, line_end, after, cuts
):
    stream = encode_chunked(
        body, sizes, extensions=extensions, trailers=tuple(trailers), line_end=line_end
    )
    decoder = ChunkedDecoder()
    pieces = split_at(stream + after, cuts)
    results = [decoder.feed(piece) for piece in pieces]
    assert results[-1] is True
    assert bytes(decoder.body) == body
    assert decoder.trailers == parse_header_lines([f"{name}: {value}" for name, value in trailers])
    assert decoder.leftover == after


@pytest.mark.parametrize(
    ("stream", "match"),
    [
        (b"zz\r\n", "chunk size"),
        (b"2\r\nabc\r\n0\r\n\r\n", "longer than its size"),
        (b"2\r\nab\rx0\r\n\r\n", "longer than its size"),
        (b"1" * 5000, "too long"),
        (b"0\r\nnot a trailer\r\n\r\n", "Malformed header"),
        (b"0\r\n" + b"X: " + b"y" * MAX_HEAD_SIZE + b"\r\n\r\n", "Trailers over"),
        (b"ffffffff\r\n", "over"),
    ],
)
def test_malformed_chunked_bodies(stream, match):
    with pytest.raises(MalformedResponse, match=match):
        ChunkedDecoder(max_body_size=1024).feed(stream)


# -- whole responses -----------------------------------------------------------------------


def parse(data: bytes, method: str = "POST", **bounds) -> ResponseParser:
    parser = ResponseParser(method, **bounds)
    parser.feed(data)
    return parser


def test_a_content_length_answer():
    parser = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n{}")
    assert parser.response == Response(
        1, 200, "OK", {"content-length": "2", "x-a": "b"}, b"{}", True
    )


def test_interim_answers_are_skipped():
    parser = parse(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    )
    assert parser.response is not None
    assert parser.response.status == 201
    assert "link" not in parser.response.headers


def test_interim_answers_are_bounded():
    with pytest.raises(MalformedResponse, match="interim"):
        parse(b"HTTP/1.1 100 Continue\r\n\r\n" * 17)


def test_switching_protocols_unasked_is_malformed():
    with pytest.raises(MalformedResponse, match="101"):
        parse(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")


@pytest.mark.parametrize(
    ("data", "method"),
    [
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", "POST"),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", "GET"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "HEAD"),
    ],
)
def test_answers_without_a_body(data, method):
    parser = parse(data, method)
    assert parser.response is not None
    assert parser.response.body == b""
    assert parser.response.keep_alive


def test_a_chunked_answer_with_both_framings_uses_the_chunks_and_closes():
    parser = parse(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n"
    )
    assert parser.response is not None
    assert parser.response.body == b"{}"
    assert not parser.response.keep_alive


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.0"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "Unsupported"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "Unsupported"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", "Conflicting"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n", "Malformed Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Malformed Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: \xd9\xa2\r\n\r\n", "Malformed Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n", "over 1000 bytes"),
        (b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 1001, "over 1000 bytes"),
        (b"\x15\x03\x03\x00\x02\x02\x46", "status line"),  # a TLS alert
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 2000, "head over 1000 bytes"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 2000 + b"\r\n\r\n", "head over 1000 bytes"),
    ],
)
def test_malformed_answers(data, match):
    with pytest.raises(MalformedResponse, match=match):
        parse(data, max_body_size=1000, max_head_size=1000)


def test_repeated_equal_content_lengths_are_fine():
    parser = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}")
    assert parser.response is not None
    assert parser.response.body == b"{}"


def test_an_http_1_0_answer_closes_unless_it_keeps_alive():
    parser = parse(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    assert parser.response is not None
    assert not parser.response.keep_alive
    parser = parse(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}")
    assert parser.response is not None
    assert parser.response.keep_alive


def test_a_body_until_close():
    parser = ResponseParser("POST")
    assert parser.feed(b"HTTP/1.1 200 OK\r\n\r\n{") is None
    assert parser.feed(b"}") is None
    response = parser.feed_eof()
    assert response.body == b"{}"
    assert not response.keep_alive


def test_bytes_after_the_answer_forbid_reuse():
    parser = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra")
    assert parser.response is not None
    assert parser.response.body == b"{}"
    assert parser.leftover == b"extra"
    assert not parser.response.keep_alive
    # Even when they come in a later piece.
    parser = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    assert parser.feed(b"x") is not None
    assert parser.response is not None
    assert not parser.response.keep_alive


def test_bare_line_feeds_are_read():
    parser = parse(b"HTTP/1.1 200 OK\nContent-Length: 2\n\n{}")
    assert parser.response is not None
    assert parser.response.body == b"{}"


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (b"", NoResponse, "before any answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Len", IncompleteResponse, "head"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", IncompleteResponse, "2 of 10"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}",
            IncompleteResponse,
            "chunked",
        ),
    ],
)
def test_the_connection_closing_mid_answer(data, error, match):
    parser = ResponseParser("POST")
    parser.feed(data)
    with pytest.raises(error, match=match) as caught:
        parser.feed_eof()
    if data:
        assert not isinstance(caught.value, NoResponse)


responses = st.builds(
    lambda minor, status, fields, body, framing: (minor, status, fields, body, framing),
    st.sampled_from([0, 1]),
    st.sampled_from([200, 202, 400, 401, 404, 500, 503]),
    st.lists(st.tuples(st.sampled_from(["X-A", "Server", "Date"]), header_values), max_size=4),
    st.binary(max_size=200),
    st.sampled_from(["length", "chunked", "close"]),
)


@given(
    response=responses,
    interim=st.booleans(),
    sizes=st.lists(st.integers(min_value=1, max_value=50), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=40),
)
def test_an_answer_reads_the_same_however_it_is_split(response, interim, sizes, cuts):
    minor, status, fields, body, framing = response
    if framing == "chunked" and minor == 0:
        framing = "length"
    lines = [f"HTTP/1.{minor} {status} Reason"]
    lines += [f"{name}: {value}" for name, value in fields]
    if framing == "length":
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        payload = encode_chunked(body, sizes)
    else:
        payload = body
    data = "\r\n".join([*lines, "", ""]).encode("latin-1") + payload
    if interim:
        data = b"HTTP/1.1 100 Continue\r\n\r\n" + data
    parser = ResponseParser("POST")
    results = [parser.feed(piece) for piece in split_at(data, cuts)]
    if framing == "close":
        assert results[-1] is None
        result = parser.feed_eof()
    else:
        result = results[-1]
        assert all(earlier is None for earlier in results[:-1] if earlier is not result)
    assert result is not None
    assert result.status == status
    assert result.body == body
    assert result.headers == parse_header_lines(lines[1:])
    assert result.keep_alive == (minor == 1 and framing != "close")
