"""HTTP/1.1 client messages without I/O: request encoding and response parsing.

:class:`~pusherable.backends.transport.KeepAliveTransport` reads the socket and
writes it; everything it needs to know about the bytes lives here, in functions
and a parser that never touch a socket, so that they can be tested on byte
strings alone (split anywhere, as ``recv()`` may split them).

- :func:`encode_request` builds a request's bytes: request line, headers and
  body, ready for a single ``sendall``; it refuses values that would smuggle a
  line break into the request.
- :class:`ResponseParser` takes the answer's bytes as they arrive
  (:meth:`~ResponseParser.feed`, then :meth:`~ResponseParser.feed_eof` when the
  server closed the connection) and returns a :class:`Response`: status line
  (HTTP/1.0 and 1.1), interim ``1xx`` answers skipped, headers (bounded in size
  and count), a body framed by ``Content-Length``, ``Transfer-Encoding:
  chunked`` (:class:`ChunkedDecoder`) or the end of the connection, and whether
  the connection can carry another request.
- :func:`parse_head`, :func:`parse_status_line`, :func:`parse_header_lines`,
  :func:`parse_chunk_size` and :func:`keeps_alive` are the pieces, each on its own.

Every fault of the answer raises a :exc:`ProtocolError`:
:exc:`MalformedResponse` for bytes that are not valid HTTP/1.x or break a
bound, :exc:`IncompleteResponse` when the connection closed in the middle of
an answer, and its subclass :exc:`NoResponse` when it closed before a single
byte of one (the one case where sending the request again is known to be safe
of a duplicate, the server having not answered).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

__all__ = [
    "MAX_BODY_SIZE",
    "MAX_HEADERS",
    "MAX_HEAD_SIZE",
    "MAX_INTERIM_RESPONSES",
    "ChunkedDecoder",
    "IncompleteResponse",
    "MalformedResponse",
    "NoResponse",
    "ProtocolError",
    "Response",
    "ResponseParser",
    "StatusLine",
    "encode_request",
    "host_header",
    "keeps_alive",
    "parse_chunk_size",
    "parse_head",
    "parse_header_lines",
    "parse_status_line",
]

#: Most bytes of a response head (status line and headers), and of a chunked body's trailers.
MAX_HEAD_SIZE = 64 * 1024
#: Most header fields in a response head (and trailer fields after a chunked body).
MAX_HEADERS = 100
#: Most bytes of a response body. A Pusher API answer is a few bytes to a channel list.
MAX_BODY_SIZE = 64 * 1024 * 1024
#: Most interim (``1xx``) answers before the final one.
MAX_INTERIM_RESPONSES = 16
#: Most bytes of a chunk-size line (hex size, extensions).
MAX_CHUNK_LINE = 4096


class ProtocolError(Exception):
    """Raised when a response cannot be read as HTTP/1.x."""


class MalformedResponse(ProtocolError):
    """Raised when a response's bytes are not valid HTTP/1.x, or exceed a bound."""


class IncompleteResponse(ProtocolError):
    """Raised when the connection closed in the middle of a response."""


class NoResponse(IncompleteResponse):
    """Raised when the connection closed (or was reset) before any byte of a response."""


class StatusLine(NamedTuple):
    """A parsed status line: ``minor`` is the HTTP/1.x minor version (0 or 1)."""

    minor: int
    status: int
    reason: str


class Response(NamedTuple):
    """A complete response.

    ``headers`` maps lower-case field names to their values (repeated fields
    joined with ``", "``); ``keep_alive`` tells whether the connection may carry
    another request: the server did not ask to close it, the body's end was
    known without the connection closing, and no byte followed the answer.
    """

    minor: int
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


# -- requests ------------------------------------------------------------------------------

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A request target never holds a space or a control character (they would
# end the request line early or start a new one).
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")
# A field value may hold spaces and tabs, never another control character.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def host_header(host: str, port: int, default_port: int) -> str:
    """The ``Host`` header for ``host:port``: the port only when it is not the scheme's default.

    An IPv6 address is put in brackets; a non-ASCII name is IDNA-encoded.
    """
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    elif not host.isascii():
        host = host.encode("idna").decode("ascii")
    return host if port == default_port else f"{host}:{port}"


def encode_request(
    method: str, target: str, headers: Mapping[str, str], body: bytes, *, host: str
) -> bytes:
    """The bytes of an HTTP/1.1 request, head and body together.

    ``Host`` (from ``host``), ``Accept-Encoding: identity`` and
    ``Content-Length`` are added unless ``headers`` has them (a bodiless
    ``GET`` or ``HEAD`` gets no ``Content-Length``).

    :raises ValueError: for a method, target, field name or value that is not
        valid in a request (a line break or a space where none may be).
    """
    if _TOKEN.fullmatch(method) is None:
        raise ValueError(f"Invalid HTTP method {method!r}")
    if not target or _BAD_TARGET.search(target) is not None:
        raise ValueError(f"Invalid request target {target!r}")
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    names = set()
    for name, value in headers.items():
        value = str(value)
        if _TOKEN.fullmatch(name) is None:
            raise ValueError(f"Invalid header name {name!r}")
        if _BAD_VALUE.search(value) is not None:
            raise ValueError(f"Invalid value for header {name!r}: {value!r}")
        names.add(name.lower())
        lines.append(f"{name}: {value}\r\n")
    if "host" not in names:
        lines.insert(1, f"Host: {host}\r\n")
    if "accept-encoding" not in names:
        # Without it a server may compress the answer; we only read identity.
        lines.append("Accept-Encoding: identity\r\n")
    if "content-length" not in names and (body or method in _BODY_METHODS):
        lines.append(f"Content-Length: {len(body)}\r\n")
    lines.append("\r\n")
    try:
        head = "".join(lines).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ValueError(f"A request header holds a character out of Latin-1: {exc}") from None
    return head + body


# -- responses: the pieces -----------------------------------------------------------------

_STATUS_LINE = re.compile(r"HTTP/1\.([0-9]) ([0-9]{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_OPTIONAL_WHITESPACE = " \t"


def parse_status_line(line: str) -> StatusLine:
    """Parse ``HTTP/1.x NNN reason`` (the reason may be empty or missing).

    A minor version above 1 reads as 1.1 (the highest this client speaks).

    :raises MalformedResponse: for anything else, an HTTP/2 status line included.
    """
    match = _STATUS_LINE.fullmatch(line)
    if match is None:
        raise MalformedResponse(f"Malformed status line {line[:100]!r}")
    minor, status, reason = match.groups()
    if status[0] == "0":
        raise MalformedResponse(f"Malformed status code in {line[:100]!r}")
    return StatusLine(min(int(minor), 1), int(status), reason or "")


def parse_header_lines(lines: list[str], *, max_headers: int = MAX_HEADERS) -> dict[str, str]:
    """Parse header field lines (without their line ends) into a dict.

    Names are lower-cased; a repeated field's values are joined with ``", "``;
    an obsolete folded line (starting with a space or tab) continues the
    previous value.

    :raises MalformedResponse: for a line that is not ``name: value``, a
        control character in a value, or more than ``max_headers`` fields.
    """
    headers: dict[str, str] = {}
    name = ""
    count = 0
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not name:
                raise MalformedResponse(f"Folded header line with nothing to fold into {line!r}")
            value = line.strip(_OPTIONAL_WHITESPACE)
            if _BAD_VALUE.search(value) is not None:
                raise MalformedResponse(f"Control character in header {name!r}")
            headers[name] = f"{headers[name]} {value}" if headers[name] else value
            continue
        raw_name, colon, value = line.partition(":")
        if not colon or _TOKEN.fullmatch(raw_name) is None:
            raise MalformedResponse(f"Malformed header line {line[:100]!r}")
        count += 1
        if count > max_headers:
            raise MalformedResponse(f"More than {max_headers} header fields")
        value = value.strip(_OPTIONAL_WHITESPACE)
        if _BAD_VALUE.search(value) is not None:
            raise MalformedResponse(f"Control character in header {raw_name!r}")
        name = raw_name.lower()
        previous = headers.get(name)
        headers[name] = value if previous is None else f"{previous}, {value}"
    return headers


def parse_chunk_size(line: bytes) -> int:
    """The size of a chunk from its size line (without its line end), extensions ignored.

    :raises MalformedResponse: unless the line is 1 to 16 hex digits, optionally
        followed by whitespace and ``;extensions``.
    """
    size, _, _extensions = line.partition(b";")
    size = size.rstrip(b" \t")
    if _CHUNK_SIZE.fullmatch(size) is None:
        raise MalformedResponse(f"Malformed chunk size line {line[:100]!r}")
    return int(size, 16)


def _tokens(value: str) -> set[str]:
    return {token.strip(_OPTIONAL_WHITESPACE).lower() for token in value.split(",")}


def keeps_alive(minor: int, headers: Mapping[str, str]) -> bool:
    """Whether the server means to keep the connection open after this answer.

    HTTP/1.1 keeps it unless ``Connection: close``; HTTP/1.0 closes it unless
    ``Connection: keep-alive``.
    """
    connection = headers.get("connection")
    if connection is None:
        return minor >= 1
    tokens = _tokens(connection)
    if "close" in tokens:
        return False
    return minor >= 1 or "keep-alive" in tokens


# -- responses: chunked bodies -------------------------------------------------------------

_SIZE, _DATA, _DATA_END, _TRAILERS, _DONE = range(5)


class ChunkedDecoder:
    """Decode a ``Transfer-Encoding: chunked`` body fed in pieces of any size.

    :meth:`feed` returns ``True`` once the last chunk and the trailers are in;
    then :attr:`body` holds the decoded bytes, :attr:`trailers` the trailer
    fields, and :attr:`leftover` any bytes that came after the body.

    :raises MalformedResponse: from :meth:`feed`, for a malformed size line, chunk
        data not followed by a line end, or trailers over their bounds, and for
        a body over ``max_body_size``.
    """

    def __init__(
        self,
        *,
        max_body_size: int = MAX_BODY_SIZE,
        max_trailer_size: int = MAX_HEAD_SIZE,
        max_trailers: int = MAX_HEADERS,
    ) -> None:
        self.max_body_size = max_body_size
        self.max_trailer_size = max_trailer_size
        self.max_trailers = max_trailers
        self.body = bytearray()
        self.trailers: dict[str, str] = {}
        self.leftover = b""
        self.done = False
        self._buffer = bytearray()
        self._state = _SIZE
        self._remaining = 0
        self._trailer_lines: list[str] = []
        self._trailer_size = 0

    def feed(self, data: bytes) -> bool:
        """Take the next bytes of the body; ``True`` once it is complete."""
        if self.done:
            self.leftover += data
            return True
        buffer = self._buffer
        buffer += data
        position = 0
        try:
            while True:
                state = self._state
                if state == _DATA:
                    available = len(buffer) - position
                    if not available:
                        break
                    take = min(self._remaining, available)
                    self.body += buffer[position : position + take]
                    position += take
                    self._remaining -= take
                    if self._remaining:
                        break
                    self._state = _DATA_END
                elif state == _SIZE:
                    end = buffer.find(b"\n", position)
                    if end < 0:
                        if len(buffer) - position > MAX_CHUNK_LINE:
                            raise MalformedResponse("Chunk size line too long")
                        break
                    if end - position > MAX_CHUNK_LINE:
                        raise MalformedResponse("Chunk size line too long")
                    size = parse_chunk_size(_strip_cr(bytes(buffer[position:end])))
                    position = end + 1
                    if size == 0:
                        self._state = _TRAILERS
                    else:
                        if len(self.body) + size > self.max_body_size:
                            raise MalformedResponse(
                                f"Chunked body over {self.max_body_size} bytes"
                            )
                        self._remaining = size
                        self._state = _DATA
                elif state == _DATA_END:
                    # The line end after a chunk's data: CRLF, or a bare LF.
                    available = len(buffer) - position
                    if not available:
                        break
                    first = buffer[position]
                    if first == 0x0A:
                        position += 1
                    elif first == 0x0D:
                        if available < 2:
                            break
                        if buffer[position + 1] != 0x0A:
                            raise MalformedResponse("Chunk data longer than its size")
                        position += 2
                    else:
                        raise MalformedResponse("Chunk data longer than its size")
                    self._state = _SIZE
                else:  # _TRAILERS
                    end = buffer.find(b"\n", position)
                    pending = (end if end >= 0 else len(buffer)) - position
                    if self._trailer_size + pending > self.max_trailer_size:
                        raise MalformedResponse(f"Trailers over {self.max_trailer_size} bytes")
                    if end < 0:
                        break
                    line = _strip_cr(bytes(buffer[position:end]))
                    self._trailer_size += end + 1 - position
                    position = end + 1
                    if line:
                        self._trailer_lines.append(line.decode("latin-1"))
                        continue
                    self.trailers = parse_header_lines(
                        self._trailer_lines, max_headers=self.max_trailers
                    )
                    self._state = _DONE
                    self.done = True
                    self.leftover = bytes(buffer[position:])
                    position = len(buffer)
                    break
        finally:
            del buffer[:position]
        return self.done


def _strip_cr(line: bytes) -> bytes:
    return line[:-1] if line[-1:] == b"\r" else line


# -- responses: the parser -----------------------------------------------------------------

_HEAD, _BODY_LENGTH, _BODY_CHUNKED, _BODY_UNTIL_CLOSE, _COMPLETE = range(5)
_NO_BODY_STATUSES = frozenset({204, 304})

# A whole head in one match, for the usual answer: no folded lines. Anything
# else goes through the line by line parser, which says what is wrong.
_VALUE_CHARS = r"[^\x00-\x08\x0a-\x1f\x7f]"
_FAST_HEAD = re.compile(
    rf"HTTP/1\.([0-9]) ([1-9][0-9][0-9])(?: ({_VALUE_CHARS}*))?\r?\n"
    rf"((?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:{_VALUE_CHARS}*\r?\n)*)\r?\n"
)
_FAST_FIELD = re.compile(rf"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*({_VALUE_CHARS}*)\r?\n")


def parse_head(
    head: bytes, *, max_headers: int = MAX_HEADERS
) -> tuple[StatusLine, dict[str, str]]:
    """Parse a response head, from the status line to the empty line that ends it.

    :raises MalformedResponse: as :func:`parse_status_line` and
        :func:`parse_header_lines` do.
    """
    text = head.decode("latin-1")
    match = _FAST_HEAD.fullmatch(text)
    if match is None:
        lines = text.split("\n")
        if len(lines) < 3 or lines[-1] or lines[-2] not in ("", "\r"):
            raise MalformedResponse("A response head ends with an empty line")
        lines = [line[:-1] if line.endswith("\r") else line for line in lines[:-2]]
        status = parse_status_line(lines[0])
        return status, parse_header_lines(lines[1:], max_headers=max_headers)
    minor, code, reason, block = match.groups()
    fields = _FAST_FIELD.findall(block)
    if len(fields) > max_headers:
        raise MalformedResponse(f"More than {max_headers} header fields")
    headers = {name.lower(): value.rstrip(_OPTIONAL_WHITESPACE) for name, value in fields}
    if len(headers) < len(fields):  # a repeated field: join its values
        headers = {}
        for name, value in fields:
            name = name.lower()
            value = value.rstrip(_OPTIONAL_WHITESPACE)
            previous = headers.get(name)
            headers[name] = value if previous is None else f"{previous}, {value}"
    return StatusLine(min(int(minor), 1), int(code), reason or ""), headers


class ResponseParser:
    """Read one HTTP/1.x response from bytes fed as they arrive.

    ``method`` is the request's: the answer to ``HEAD`` has no body.
    :meth:`feed` and :meth:`feed_eof` return the :class:`Response` once it is
    complete (``None`` while more bytes are needed); :attr:`leftover` then holds
    any bytes received after it.

    :raises MalformedResponse: for an answer that is not valid HTTP/1.x or is
        over a bound (head size, header count, body size, interim answers).
    :raises IncompleteResponse: from :meth:`feed_eof` in the middle of an answer
        (:exc:`NoResponse` when not a byte of one had come).
    """

    def __init__(
        self,
        method: str = "GET",
        *,
        max_head_size: int = MAX_HEAD_SIZE,
        max_headers: int = MAX_HEADERS,
        max_body_size: int = MAX_BODY_SIZE,
    ) -> None:
        self.method = method
        self.max_head_size = max_head_size
        self.max_headers = max_headers
        self.max_body_size = max_body_size
        #: Bytes received so far, of this answer and whatever follows it.
        self.received = 0
        #: Bytes received after the complete response (never reuse a connection with any).
        self.leftover = b""
        #: The complete :class:`Response`, once there is one.
        self.response: Response | None = None
        self._state = _HEAD
        self._head = b""  # the head so far (at most max_head_size bytes: a plain bytes is fine)
        self._scanned = 0  # where to resume looking for the end of the head
        self._interim = 0
        self._status: StatusLine | None = None
        self._headers: dict[str, str] = {}
        self._length = 0  # of a Content-Length body
        self._pieces: list[bytes] = []  # of a Content-Length or close-delimited body
        self._size = 0  # bytes in _pieces
        self._reusable = True
        self._chunked: ChunkedDecoder | None = None

    def feed(self, data: bytes) -> Response | None:
        """Take the next bytes received; the response once it is complete."""
        if not data:
            return self.response
        self.received += len(data)
        state = self._state
        if state == _HEAD:
            self._head += data
            return self._read_head()
        if state in (_BODY_LENGTH, _BODY_UNTIL_CLOSE):
            return self._add_body(data)
        if state == _BODY_CHUNKED:
            return self._feed_chunked(data)
        # _COMPLETE: bytes after the answer, so the connection cannot carry another request.
        self.leftover += data
        if self.response is not None and self.response.keep_alive:
            self.response = self.response._replace(keep_alive=False)
        return self.response

    def feed_eof(self) -> Response:
        """The server closed the connection: the response, if that completes it.

        :raises IncompleteResponse: if the answer is not complete.
        """
        state = self._state
        if state == _COMPLETE:
            assert self.response is not None
            return self.response
        if state == _BODY_UNTIL_CLOSE:
            return self._complete(b"".join(self._pieces), b"")
        if not self.received:
            raise NoResponse("Connection closed before any answer")
        if state == _HEAD:
            raise IncompleteResponse("Connection closed in the middle of the answer's head")
        if state == _BODY_LENGTH:
            raise IncompleteResponse(
                f"Connection closed after {self._size} of {self._length} body bytes"
            )
        raise IncompleteResponse("Connection closed in the middle of the chunked body")

    # -- states ----------------------------------------------------------------------------

    def _read_head(self) -> Response | None:
        while True:
            buffer = self._head
            if not buffer.startswith(b"HTTP/") and not b"HTTP/".startswith(buffer):
                # Not an HTTP answer at all (say a TLS server's alert): say so now
                # rather than wait for a head end that never comes.
                raise MalformedResponse(f"Malformed status line {buffer[:100]!r}")
            end = _find_head_end(buffer, self._scanned)
            if end < 0:
                if len(buffer) > self.max_head_size:
                    raise MalformedResponse(f"Response head over {self.max_head_size} bytes")
                # The empty line may straddle this piece and the next.
                self._scanned = max(0, len(buffer) - 2)
                return None
            if end > self.max_head_size:
                raise MalformedResponse(f"Response head over {self.max_head_size} bytes")
            status, headers = parse_head(buffer[:end], max_headers=self.max_headers)
            rest = buffer[end:]
            self._head, self._scanned = rest, 0
            if status.status >= 200:
                self._head = b""
                return self._start_body(status, headers, rest)
            if status.status == 101:
                raise MalformedResponse("Unexpected 101 Switching Protocols")
            self._interim += 1  # an interim answer: the final one follows
            if self._interim > MAX_INTERIM_RESPONSES:
                raise MalformedResponse(f"More than {MAX_INTERIM_RESPONSES} interim answers")

    def _start_body(
        self, status: StatusLine, headers: dict[str, str], rest: bytes
    ) -> Response | None:
        self._status = status
        self._headers = headers
        self._reusable = keeps_alive(status.minor, headers)
        if self.method == "HEAD" or status.status in _NO_BODY_STATUSES:
            return self._complete(b"", rest)
        transfer_encoding = headers.get("transfer-encoding")
        if transfer_encoding is not None:
            codings = [token for token in _tokens(transfer_encoding) if token]
            if status.minor == 0:
                raise MalformedResponse("Transfer-Encoding in an HTTP/1.0 answer")
            if codings != ["chunked"]:
                raise MalformedResponse(f"Unsupported Transfer-Encoding {transfer_encoding!r}")
            if "content-length" in headers:
                # Framing both ways is how requests get smuggled: use the chunks,
                # and never trust the connection again.
                self._reusable = False
            self._state = _BODY_CHUNKED
            self._chunked = ChunkedDecoder(
                max_body_size=self.max_body_size, max_trailers=self.max_headers
            )
            return self._feed_chunked(rest)
        content_length = headers.get("content-length")
        if content_length is not None:
            self._length = _parse_content_length(content_length)
            if self._length > self.max_body_size:
                raise MalformedResponse(f"Response body over {self.max_body_size} bytes")
            self._state = _BODY_LENGTH
            if len(rest) >= self._length:  # the usual case: the whole answer in one piece
                return self._complete(rest[: self._length], rest[self._length :])
        else:
            self._state = _BODY_UNTIL_CLOSE
            self._reusable = False
        return self._add_body(rest) if rest else None

    def _add_body(self, data: bytes) -> Response | None:
        self._pieces.append(data)
        self._size += len(data)
        if self._state == _BODY_UNTIL_CLOSE:
            if self._size > self.max_body_size:
                raise MalformedResponse(f"Response body over {self.max_body_size} bytes")
            return None
        length = self._length
        if self._size < length:
            return None
        received = b"".join(self._pieces)
        return self._complete(received[:length], received[length:])

    def _feed_chunked(self, data: bytes) -> Response | None:
        decoder = self._chunked
        assert decoder is not None
        if not decoder.feed(data):
            return None
        return self._complete(bytes(decoder.body), decoder.leftover)

    def _complete(self, body: bytes, leftover: bytes) -> Response:
        status = self._status
        assert status is not None
        self._state = _COMPLETE
        self._pieces = []
        self.leftover = leftover
        self.response = Response(
            status.minor,
            status.status,
            status.reason,
            self._headers,
            body,
            self._reusable and not leftover,
        )
        return self.response


def _find_head_end(buffer: bytes, start: int) -> int:
    # The head ends at an empty line: CRLF CRLF, or bare LFs where a server uses them.
    crlf = buffer.find(b"\n\r\n", start)
    lf = buffer.find(b"\n\n", start)
    if crlf < 0:
        return lf + 2 if lf >= 0 else -1
    if 0 <= lf < crlf:
        return lf + 2
    return crlf + 3


def _parse_content_length(value: str) -> int:
    if value.isdigit() and value.isascii() and len(value) <= 18:
        return int(value)
    # Repeated fields (joined with ", ") are fine when they all agree.
    values = {item.strip(_OPTIONAL_WHITESPACE) for item in value.split(",")}
    if len(values) != 1:
        raise MalformedResponse(f"Conflicting Content-Length {value!r}")
    (length,) = values
    if not length.isdigit() or not length.isascii() or len(length) > 18:
        raise MalformedResponse(f"Malformed Content-Length {value!r}")
    return int(length)
