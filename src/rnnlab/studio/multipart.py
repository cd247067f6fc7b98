"""One file out of a multipart/form-data body (RFC 7578): what `curl -F file=@a.wav` and an HTML form send.

POST /upload takes a file's raw bytes as the body (`curl --data-binary @a.wav "http://HOST/upload?name=a.wav"`);
a client that sends a form instead gets the same answer, the file taken out of the form here. One file per
request, as with a raw body: a form with no file or with several is refused, saying what to send.

Why not Starlette's `request.form()`: it needs the python-multipart package for one small job; the stdlib's
email.message parses the header parameters (quoting, RFC 2231 file names), and the body's framing is a split.

    --BOUNDARY\r\n
    Content-Disposition: form-data; name="file"; filename="a.wav"\r\n
    Content-Type: audio/wav\r\n
    \r\n
    <the file's bytes>\r\n
    --BOUNDARY--\r\n
"""
from __future__ import annotations

from email.message import Message

from rnnlab.errors import UserError

RAW = 'send the file\'s bytes as the body (curl --data-binary @a.wav "http://HOST/upload?name=a.wav")'
FORM = "or one file in a form (curl -F file=@a.wav http://HOST/upload)"


def is_form(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == "multipart/form-data"


def _header(name: str, value: str) -> Message:
    m = Message()
    m[name] = value
    return m


def _parts(body: bytes, boundary: bytes) -> list[tuple[Message, bytes]]:
    """(headers, content) of each part between the opening delimiter and the closing one."""
    chunks = (b"\r\n" + body).split(b"\r\n--" + boundary)  # chunks[0]: the preamble, ignored
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):  # the closing delimiter: what follows is the epilogue
            return parts
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep or not head.lstrip(b" \t").startswith(b"\r\n"):
            break
        headers = Message()
        for line in head.decode("latin-1").split("\r\n")[1:]:
            key, colon, value = line.partition(":")
            if colon:
                headers[key.strip()] = value.strip()
        parts.append((headers, content))
    raise UserError(f"the multipart form is cut short or malformed (no closing --boundary--): {RAW}, {FORM}")


def single_file(body: bytes, content_type: str) -> tuple[str, bytes]:
    """(file name, bytes) of the one file in a multipart/form-data body; UserError saying what to send when the
    form has no boundary, is malformed, or holds no file or more than one (text fields are ignored)."""
    boundary = _header("Content-Type", content_type).get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise UserError(f"a multipart/form-data body needs a boundary in its Content-Type header: {RAW}, {FORM}")
    parts = _parts(body, boundary.encode("latin-1"))
    files = []
    for headers, content in parts:
        disposition = _header("Content-Disposition", headers.get("Content-Disposition", ""))
        filename = disposition.get_filename()
        if filename is not None or len(parts) == 1:  # a lone part is the file, whatever its field says
            files.append((filename or "", content))
    if len(files) != 1:
        found = "no file" if not files else f"{len(files)} files"
        raise UserError(f"the form holds {found}; /upload reads one file per request: {RAW}, {FORM}")
    return files[0]
