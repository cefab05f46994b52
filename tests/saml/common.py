"""What both test service providers share: a key pair, a tiny HTTP server, and
the pages the end-to-end test reads. Each SP prints one JSON line on stdout
when it listens: {"ready": true, "metadata": PATH, "entity_id": ...}."""

import datetime
import html
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def make_key_pair(workdir, cn):
    """A fresh RSA-2048 key and self-signed certificate in workdir (PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path = os.path.join(workdir, "sp.key")
    cert_path = os.path.join(workdir, "sp.crt")
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def page(handler, status, title, body):
    text = f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1><pre id='out'>{html.escape(body)}</pre>"
    data = text.encode()
    handler.send_response(status)
    handler.send_header("content-type", "text/html; charset=utf-8")
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def redirect(handler, location):
    handler.send_response(302)
    handler.send_header("location", location)
    handler.send_header("content-length", "0")
    handler.end_headers()


def serve(port, routes, ready):
    """Runs routes[(method, path)](handler, query_dict, form_dict, raw_query) until killed."""

    class Handler(BaseHTTPRequestHandler):
        def _dispatch(self, method):
            u = urlparse(self.path)
            form = {}
            if method == "POST":
                n = int(self.headers.get("content-length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(n).decode()).items()}
            query = {k: v[0] for k, v in parse_qs(u.query).items()}
            fn = routes.get((method, u.path))
            if fn is None:
                page(self, 404, "not found", self.path)
                return
            try:
                fn(self, query, form, u.query)
            except Exception as e:  # the test reads the page: say what failed
                page(self, 403, "SAML ERROR", f"{type(e).__name__}: {e}")

        def do_GET(self):
            self._dispatch("GET")

        def do_POST(self):
            self._dispatch("POST")

        def log_message(self, fmt, *args):
            sys.stderr.write("sp: " + fmt % args + "\n")

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(json.dumps(ready), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


lock = threading.Lock()
