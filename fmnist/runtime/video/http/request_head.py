"""A request's line and headers, as the app is handed them: within their size limit, the target in origin-form.

- The limit: h11 refuses a head only while it is still incomplete past its buffer limit; a whole head that came in
  one read (up to 256 KB) it parses. Here every head over MAX_HEAD_BYTES is refused with 431, however it came.
- The target: HTTP/1.1 lets a client name the whole URL in the request line (`GET http://host:port/health
  HTTP/1.1`, the absolute-form proxies are sent), and a server must accept it (RFC 9112, 3.2.2). h11 hands it on as
  it came, so the app would look for a path named `http://host:port/health`. Here it becomes the origin-form
  (`/health`), and the URL's host replaces the Host header, as the RFC says: the loopback Host check then judges
  the host the client named. A URL with user:password@ (an error for an http URL, RFC 9110, 4.2.4) or a backslash
  in its authority (read as a path by browsers, as the host's end by Python) is refused, not guessed at.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import h11

# a request's line and headers, at most: cookies and all, a browser's fit in 8 KB (h11's own buffer limit too)
MAX_HEAD_BYTES = 16 * 1024


def head_bytes(request: h11.Request) -> int:
    """The size of the request's line and headers as sent (less the spaces h11 strips around header values)."""
    line = len(request.method) + 1 + len(request.target) + len(b" HTTP/") + len(request.http_version) + 2
    return line + sum(len(name) + 2 + len(value) + 2 for name, value in request.headers) + 2


def as_served(request: h11.Request) -> h11.Request:
    """`request` within the limit and in the origin-form; h11.RemoteProtocolError (431, or 400) otherwise."""
    if head_bytes(request) > MAX_HEAD_BYTES:
        raise h11.RemoteProtocolError("the request's head is over the limit", error_status_hint=431)
    return origin_form(request)


def origin_form(request: h11.Request) -> h11.Request:
    """`request` with an absolute-form http(s) target turned into the origin-form; any other target as it is."""
    if request.target.startswith(b"/") or b"://" not in request.target:  # origin-form, "*", or CONNECT's authority
        return request
    try:
        url = urlsplit(request.target.decode("ascii"))  # h11 let only ASCII through
    except ValueError:  # an unclosed "[" of an IPv6 host
        raise h11.RemoteProtocolError("a malformed URL in the request line", error_status_hint=400) from None
    if url.scheme not in ("http", "https") or not url.netloc:
        return request
    if "@" in url.netloc or "\\" in url.netloc:
        raise h11.RemoteProtocolError("user information or a backslash in the URL's host", error_status_hint=400)
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    headers = [(name, value) for name, value in request.headers if name != b"host"]
    return h11.Request(method=request.method, target=target.encode("ascii"), http_version=request.http_version,
                       headers=[(b"host", url.netloc.encode("ascii")), *headers])
