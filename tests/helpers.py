"""Shared test helpers: random weights in the released format, a numpy reference, and a
local HTTP server."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from neuron_repro.features import preprocess_openai


def write_openai_weights(folder: Path, n_units: int = 16, n_embed: int = 8, seed: int = 0) -> dict:
    """Write 0.npy ... 14.npy with random values in the release's layout; return the arrays."""
    rng = np.random.default_rng(seed)
    h, e = n_units, n_embed
    shapes = [(256, e), (e, 4 * h), (h, h), (h, h), (h, h), (h, h), (e, h), (h, h), (4 * h,),
              (4 * h,), (4 * h,), (h,), (h,), (h, 256), (256,)]
    arrays = {}
    folder.mkdir(parents=True, exist_ok=True)
    for i, shape in enumerate(shapes):
        if i in (9, 10, 11, 12):  # gains
            a = rng.uniform(0.5, 2.0, shape)
        elif i == 8:
            a = rng.normal(0, 0.5, shape)
        else:
            a = rng.normal(0, 1.0, shape)
        arrays[i] = a.astype(np.float32)
        np.save(folder / f"{i}.npy", arrays[i])
    return arrays


def _norm(w, g):
    return w / np.sqrt(np.maximum((w * w).sum(axis=0, keepdims=True), 1e-12)) * g


def reference_states(arrays: dict, text: str) -> dict:
    """The equations of PROTOCOLS.md, step by step in float64, on one text."""
    a = {k: v.astype(np.float64) for k, v in arrays.items()}
    wx, wmx = _norm(a[1], a[9]), _norm(a[6], a[11])
    wh = _norm(np.concatenate([a[2], a[3], a[4], a[5]], axis=1), a[10])
    wmh = _norm(a[7], a[12])
    h_units = a[6].shape[1]
    c, h = np.zeros(h_units), np.zeros(h_units)
    cs = []
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for byte in preprocess_openai(text):
        x = a[0][byte]
        m = (x @ wmx) * (h @ wmh)
        z = x @ wx + m @ wh + a[8]
        i, f, o, u = np.split(z, 4)
        c = sig(f) * c + sig(i) * np.tanh(u)
        h = sig(o) * np.tanh(c)
        cs.append(c)
    cs = np.array(cs)
    return {"final_c": c, "final_h": h, "mean_c": cs.mean(0), "min_c": cs.min(0),
            "max_c": cs.max(0), "trace": cs}


def dying_worker(*args, **kwargs):
    """A worker process that dies without a word, as one killed by the system would."""
    import os

    os._exit(3)


class Server:
    """Files by URL path; Range honoured unless ``ranges`` is False; ``cut[path] = n`` sends
    only n bytes of the next response for that path, then drops the connection."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.ranges = True
        self.cut: dict[str, int] = {}
        self.trickle: dict[str, float] = {}  # path -> seconds between the bytes it sends
        self.requests: list[tuple[str, str | None]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.requests.append((self.path, self.headers.get("Range")))
                data = owner.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start, status = 0, 200
                wanted = self.headers.get("Range")
                if wanted and owner.ranges:
                    start = int(wanted.removeprefix("bytes=").rstrip("-"))
                    if start >= len(data):
                        self.send_error(416)
                        return
                    status = 206
                self.send_response(status)
                self.send_header("Content-Length", str(len(data) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                body = data[start:]
                if self.path in owner.cut:
                    body = body[:owner.cut.pop(self.path)]
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if self.path in owner.trickle:
                    for i in range(len(body)):
                        try:
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                        except OSError:  # the client gave up
                            return
                        time.sleep(owner.trickle[self.path])
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, data: bytes) -> str:
        self.files[path] = data
        return self.url + path

    def asked(self, path: str) -> list[str | None]:
        return [r for p, r in self.requests if p == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def held(claim) -> list:
    """A result that holds for each precondition ``claim`` declares: what a test passes to
    ``judge`` to look at the rule alone (the judge never takes an unchecked one as met)."""
    from neuron_repro.verdicts import PreconditionResult

    return [PreconditionResult(p, True, "taken as met in this test") for p in claim.preconditions]
