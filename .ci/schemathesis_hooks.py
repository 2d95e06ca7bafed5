"""Schemathesis hooks for `.ci/schemathesis`.

- Long-polls and streams are held by their own timeout parameters: a generated `waitMs` or
  `Timeout-Seconds` is capped (values out of range are left as generated, so their refusal
  is still tested) so that one case waits a moment, not 30 s.
- Batch items and output stream writes are NDJSON: one JSON value a line.
- Every response is counted, and the server errors among them (`after_call`).
"""

import atexit
import json
import os
import threading

import schemathesis

#: Longest long-poll wait a case may ask for, in milliseconds.
MAX_WAIT_MS = 100
#: Longest output stream read a case may ask for, in seconds.
MAX_TIMEOUT_SECONDS = 1


def _capped(value, cap):
    """`value` capped at `cap` when it is a whole number in range, else as it is."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value > cap:
        return cap
    if isinstance(value, str) and value.isdigit() and int(value) > cap:
        return str(cap)
    return value


@schemathesis.hook
def before_call(context, case, kwargs):
    if isinstance(case.query, dict) and "waitMs" in case.query:
        case.query["waitMs"] = _capped(case.query["waitMs"], MAX_WAIT_MS)
    if isinstance(case.body, dict) and "waitMs" in case.body:
        case.body["waitMs"] = _capped(case.body["waitMs"], MAX_WAIT_MS)
    for headers in (case.headers, kwargs.get("headers")):
        if isinstance(headers, dict) and "Timeout-Seconds" in headers:
            headers["Timeout-Seconds"] = _capped(headers["Timeout-Seconds"], MAX_TIMEOUT_SECONDS)


@schemathesis.serializer("application/x-ndjson")
def ndjson(context, value):
    """A list as one JSON value a line; anything else as one line (a string as it is)."""
    if isinstance(value, list):
        return "".join(json.dumps(item) + "\n" for item in value).encode()
    if isinstance(value, (str, bytes)):
        return value.encode() if isinstance(value, str) else value
    return (json.dumps(value) + "\n").encode()


class _Tally:
    """Requests made and server errors seen, added as a line to `$TRIGR_SCHEMATHESIS_TALLY`
    at exit."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.server_errors = 0

    def count(self, status):
        with self.lock:
            self.requests += 1
            self.server_errors += status >= 500

    def write(self):
        path = os.environ.get("TRIGR_SCHEMATHESIS_TALLY")
        if path:
            with open(path, "a") as f:
                f.write(f"{self.requests} {self.server_errors}\n")


_tally = _Tally()
atexit.register(_tally.write)


@schemathesis.hook
def after_call(context, case, response):
    _tally.count(response.status_code)
