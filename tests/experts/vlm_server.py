"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1 for the VLM tests (no model weights).

It speaks enough of ``POST /v1/chat/completions`` for the official ``openai`` client: it records
every request (JSON body and headers) and answers from a script of :class:`Reply` objects, then from
a default answer. It can ignore ``n`` (like Ollama), refuse ``response_format``, answer 429/5xx,
hang until released (timeouts), drop the connection, or return huge answers.
"""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted reply.

    Attributes:
        contents: the choices' texts (cycled to fill ``n``); None: the server's default answer.
        status: HTTP status.
        headers: extra response headers (e.g. ``retry-after-ms``).
        error: error message for a non-200 status (an OpenAI-style error body).
        refusal: the message's refusal field.
        finish_reason: every choice's finish reason.
        hang: wait (until the server stops) instead of answering: the client times out.
        drop: close the connection without answering.
        raw_body: a body sent as is (bytes), instead of a chat completion.
    """

    contents: list[str] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: str = "error"
    refusal: str | None = None
    finish_reason: str = "stop"
    hang: bool = False
    drop: bool = False
    raw_body: bytes | None = None


class ScriptedServer:
    """The server; use as a context manager (``with ScriptedServer(...) as srv: srv.url``).

    Args:
        default: the default answer text, or a function of the request body returning the choices' texts.
        supports_n: honour ``n`` (else one choice per request, like Ollama).
        supports_schema: accept ``response_format`` (else answer 400 to it).
        gather: hold each request until this many are in flight (or 0.5 s pass), to observe concurrency.
    """

    def __init__(self, default: str | Callable[[dict[str, Any]], list[str]] = "", supports_n: bool = True, supports_schema: bool = True, gather: int = 0):
        self.default = default
        self.supports_n, self.supports_schema, self.gather = supports_n, supports_schema, gather
        self.script: collections.deque[Reply] = collections.deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.release = threading.Event()
        self.inflight = 0
        self.max_inflight = 0
        self._cond = threading.Condition()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the server (``http://127.0.0.1:PORT/v1``)."""
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def push(self, *replies: Reply) -> ScriptedServer:
        """Queue replies (answered in order before the default)."""
        self.script.extend(replies)
        return self

    def __enter__(self) -> ScriptedServer:
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with srv._cond:
                    srv.requests.append(body)
                    srv.headers.append({k.lower(): v for k, v in self.headers.items()})
                    reply = srv.script.popleft() if srv.script else Reply()
                    srv.inflight += 1
                    srv.max_inflight = max(srv.max_inflight, srv.inflight)
                    srv._cond.notify_all()
                    if srv.gather:
                        srv._cond.wait_for(lambda: srv.inflight >= srv.gather, timeout=0.5)
                try:
                    self._answer(body, reply)
                finally:
                    with srv._cond:
                        srv.inflight -= 1

            def _answer(self, body: dict[str, Any], reply: Reply) -> None:
                if self.path.split("?")[0] != "/v1/chat/completions":
                    self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())
                    return
                if reply.drop:
                    self.close_connection = True
                    return
                if reply.hang:
                    srv.release.wait(timeout=30)
                    self.close_connection = True
                    return
                if reply.raw_body is not None:
                    self._send(reply.status, reply.raw_body, reply.headers)
                    return
                if reply.status != 200:
                    self._send(reply.status, json.dumps({"error": {"message": reply.error, "type": "scripted"}}).encode(), reply.headers)
                    return
                if "response_format" in body and not srv.supports_schema:
                    self._send(400, json.dumps({"error": {"message": "response_format is not supported by this server"}}).encode())
                    return
                n = int(body.get("n") or 1) if srv.supports_n else 1
                if reply.contents is not None:
                    texts = reply.contents
                elif callable(srv.default):
                    texts = srv.default(body)
                else:
                    texts = [srv.default]
                choices = [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": texts[i % len(texts)] if texts else "", "refusal": reply.refusal},
                        "finish_reason": reply.finish_reason,
                    }
                    for i in range(n)
                ]
                out = {
                    "id": f"chatcmpl-{len(srv.requests)}", "object": "chat.completion", "created": 0, "model": body.get("model", ""),
                    "choices": choices, "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
                self._send(200, json.dumps(out).encode(), reply.headers)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="vlm-test-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
