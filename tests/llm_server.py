"""A scripted stand-in for the Gemini and OpenAI REST APIs on 127.0.0.1 (no network).

It answers the request shapes the two SDKs send — ``POST /v1/chat/completions`` (OpenAI) and
``POST /.../models/{model}:generateContent`` (Gemini) — with the replies of a script, in order
(the last one repeats), and records every request.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted reply: the model's text (status 200) or an HTTP error."""

    text: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class ScriptedServer:
    def __init__(self, script: list[Reply]) -> None:
        self.script = list(script)
        self.requests: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                server.requests.append(Seen(self.path, dict(self.headers), body))
                i = min(len(server.requests) - 1, len(server.script) - 1)
                reply = server.script[i]
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                gemini = ":generateContent" in self.path
                if reply.status == 200:
                    if gemini:
                        out: dict[str, Any] = {
                            "candidates": [
                                {"content": {"parts": [{"text": reply.text}], "role": "model"},
                                 "finishReason": "STOP"}
                            ],
                            "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 20},
                        }  # fmt: skip
                    else:
                        out = {
                            "id": "chatcmpl-1", "object": "chat.completion", "created": 0,
                            "model": body.get("model", "m"),
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": reply.text}}],
                            "usage": {"prompt_tokens": 10, "completion_tokens": 10,
                                      "total_tokens": 20},
                        }  # fmt: skip
                else:
                    out = {"error": {"code": reply.status, "message": "scripted error",
                                     "status": "UNAVAILABLE", "type": "server_error"}}  # fmt: skip
                data = json.dumps(out).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def gemini_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
