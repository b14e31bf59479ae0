"""`echo-http-py`: an HTTP handler (`wasi:http/proxy`) in Python.

GET (and every method but POST and PUT) answers the request as JSON:
`{"method", "path", "query", "headers", "lang"}`, the query `null` when
there is none, headers by lower-case name with repeated values joined by
`, `. POST and PUT echo the body with its content type
(`application/octet-stream` when it has none); `?status=N` sets the
status; every answer carries `x-echo: 1`. The Python twin of the Rust
`echo-http`.
Built with componentize-py (see scripts/build-functions.sh).
"""

import json
from urllib.parse import parse_qs, urlsplit

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method_Other,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        method = request.method()
        method = method.value if isinstance(method, Method_Other) else type(method).__name__[7:].upper()
        url = urlsplit(request.path_with_query() or "/")
        headers = {}  # by lower-case name, repeated values joined
        for name, value in request.headers().entries():
            name, value = name.lower(), value.decode()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        status = parse_qs(url.query).get("status", [""])[0]
        status = int(status) if status.isdigit() else 200

        if method in ("POST", "PUT"):
            content_type = headers.get("content-type", "application/octet-stream")
            body = read_body(request)
        else:
            content_type = "application/json"
            doc = {"method": method, "path": url.path, "query": url.query or None, "headers": headers}
            body = json.dumps(doc | {"lang": "python"}).encode()
        respond(response_out, status, [("content-type", content_type.encode()), ("x-echo", b"1")], body)


def read_body(request: IncomingRequest) -> bytes:
    chunks = []
    # The stream must go before the body it belongs to: hold both.
    with request.consume() as body, body.stream() as stream:
        while True:
            try:
                chunks.append(stream.blocking_read(64 * 1024))
            except Err as err:
                if isinstance(err.value, StreamError_Closed):
                    return b"".join(chunks)
                raise


def respond(response_out: ResponseOutparam, status: int, headers: list, body: bytes) -> None:
    response = OutgoingResponse(Fields.from_list(headers))
    response.set_status_code(status)
    out = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    with out.write() as stream:
        # A blocking write takes at most 4096 bytes.
        for start in range(0, len(body), 4096):
            stream.blocking_write_and_flush(body[start : start + 4096])
    OutgoingBody.finish(out, None)
