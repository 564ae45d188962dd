"""Schemathesis hooks for tests/api/openapi.test.mjs (loaded through SCHEMATHESIS_HOOKS).

- Signs every `POST /v1/ingest` request with the Standard Webhooks scheme, over the exact
  bytes that are sent, so that generated bodies reach past the signature check (an unsigned
  request only ever meets the 401 of the header check).
- Gzips the body of a `POST /v1/events` whose generated `Content-Encoding` is `gzip`, as a
  browser would, so that such batches test the gzip path rather than all meeting
  400 `invalid_gzip`.
- Adds the read API's bearer key, so that generated queries reach the handlers, and the
  ingest key to the conversation log API's writes and to `POST /data/agentic`.
- `no_server_error` replaces the built-in `not_a_server_error`: any 5xx fails, except 501
  `unsupported_version` from the proxy, which docs/openapi.yaml documents as the deliberate
  answer to a batch `v` the proxy does not understand (a 5xx so that browsers keep the events).

Environment: AGENT_TRACK_SECRET (`whsec_<base64 key>`), AGENT_TRACK_API_KEY,
AGENT_TRACK_INGEST_KEYS.
"""

import base64
import gzip
import hashlib
import hmac
import json
import os
import time
import uuid

import schemathesis

SECRET = os.environ.get("AGENT_TRACK_SECRET", "")
API_KEY = os.environ.get("AGENT_TRACK_API_KEY", "")
INGEST_KEY = os.environ.get("AGENT_TRACK_INGEST_KEYS", "").split(" ")[0]


def is_write(case) -> bool:
    """An operation of the conversation log API (the POSTs under /api/v1/conversations)."""
    return case.method.upper() == "POST" and case.operation.path.startswith("/api/v1/conversations")


def signing_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret: the base64-decoded part after the prefix."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def body_bytes(case, kwargs) -> bytes:
    """The bytes the transport will send for `case`, fixed here so the signature covers them."""
    if "data" in kwargs:
        data = kwargs["data"]
    else:
        data = case.as_transport_kwargs().get("data")
        if data is None:
            # Serialized the way the transport would serialize a JSON body.
            data = json.dumps(case.body).encode() if case.body is not None else b""
    if isinstance(data, str):
        data = data.encode()
    return data or b""


@schemathesis.hook
def before_call(context, case, kwargs):
    path = case.operation.path
    headers = case.headers if case.headers is not None else {}
    if path == "/v1/ingest" and case.method.upper() == "POST" and SECRET:
        try:
            body = body_bytes(case, kwargs)
        except Exception:
            # A body the transport cannot serialize is sent unsigned (and meets the 401).
            return
        # Passing `data` makes the transport send exactly these bytes.
        kwargs["data"] = body
        msg_id = f"msg_{uuid.uuid4().hex}"
        now = int(time.time())
        headers["webhook-id"] = msg_id
        headers["webhook-timestamp"] = str(now)
        headers["webhook-signature"] = sign(SECRET, msg_id, now, body)
    elif path == "/v1/events" and case.method.upper() == "POST":
        encoding = next((v for k, v in headers.items() if k.lower() == "content-encoding"), "")
        if encoding.strip().lower() == "gzip":
            try:
                kwargs["data"] = gzip.compress(body_bytes(case, kwargs))
            except Exception:
                return
    elif path == "/data/agentic" and INGEST_KEY:
        headers["x-pendo-integration-key"] = INGEST_KEY
    elif is_write(case) and INGEST_KEY:
        headers["Authorization"] = f"Bearer {INGEST_KEY}"
    elif path.startswith("/api/v1/") and API_KEY:
        headers["Authorization"] = f"Bearer {API_KEY}"
    case.headers = headers


@schemathesis.check
def no_server_error(ctx, response, case):
    """No 5xx, except the proxy's documented 501 `unsupported_version`."""
    if response.status_code < 500:
        return None
    if response.status_code == 501 and case.operation.path == "/v1/events":
        try:
            if response.json().get("code") == "unsupported_version":
                return None
        except Exception:
            pass
    raise AssertionError(
        f"server error {response.status_code} on {case.method} {case.operation.path}: "
        f"{response.text[:300]}"
    )
