"""An upstream SAML 2.0 identity provider for the federation tests, built on
pysaml2 (signatures by Debian's xmlsec1). It signs in whoever the test says
next, without a login form, so the tests drive Portcullis' side of the flow.

    python saml_idp.py PORT WORKDIR

Endpoints:
  GET  /metadata          the IdP's metadata (signing certificate, SSO endpoint)
  GET  /sso/redirect      SSO over HTTP-Redirect; answers an auto-posting form
  GET  /slo/redirect      single logout over HTTP-Redirect; records the NameID
  GET  /test/logouts      the NameIDs logged out so far (JSON)
  POST /test/sp           {"entity_id", "acs_url"}: the service provider to trust
  POST /test/next         the next sign-in: {"sub", "mail", "givenName", "sn",
                          "groups", "class_ref", "deny", "tamper", "expired",
                          "unsigned", "sha1", "audience", "recipient"}
Signatures are RSA-SHA256 (pysaml2's default is SHA-1; "sha1" asks for it).
Prints "ready <port>" on stdout once listening.
"""

import base64
import json
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.samlp import STATUS_AUTHN_FAILED
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

PORT = int(sys.argv[1])
WORK = Path(sys.argv[2])
BASE = f"http://127.0.0.1:{PORT}"
PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"

KEY = WORK / "idp.key"
CERT = WORK / "idp.pem"
if not KEY.exists():
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=saml-idp.test", "-keyout", str(KEY), "-out", str(CERT)],
        check=True, capture_output=True,
    )

STATE = {"sp": None, "next": {}, "logouts": []}
OTHER_SP = "https://someone-else.example/sp"


def sp_metadata(entity_id, acs_url):
    return f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAssertionsSigned="true">
    <md:NameIDFormat>{NAMEID_FORMAT_PERSISTENT}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" Location="{acs_url}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"""


def make_server(lifetime_minutes=15):
    sp = STATE["sp"]
    conf = {
        "entityid": f"{BASE}/metadata",
        "description": "Federation test IdP",
        "service": {
            "idp": {
                "name": "Test IdP",
                "endpoints": {
                    "single_sign_on_service": [(f"{BASE}/sso/redirect", BINDING_HTTP_REDIRECT)],
                    "single_logout_service": [(f"{BASE}/slo/redirect", BINDING_HTTP_REDIRECT)],
                },
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "policy": {
                    "default": {
                        "lifetime": {"minutes": lifetime_minutes},
                        "attribute_restrictions": None,
                        "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
                    }
                },
                "sign_response": True,
                "sign_assertion": False,
            }
        },
        "key_file": str(KEY),
        "cert_file": str(CERT),
        "xmlsec_binary": "/usr/bin/xmlsec1",
        # A second, unrelated service provider sharing the ACS URL: the IdP can then
        # sign a response for someone else ("audience"), as for a replay from that SP.
        "metadata": {"inline": [sp_metadata(*sp), sp_metadata(OTHER_SP, sp[1])]} if sp else {},
        "accepted_time_diff": 60,
    }
    cfg = IdPConfig()
    cfg.load(conf)
    return Server(config=cfg)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("saml-idp: " + (fmt % args) + "\n")

    def reply(self, status, body, ctype="text/html; charset=utf-8"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/metadata":
            idp = make_server()
            self.reply(200, create_metadata_string(None, config=idp.config, sign=False),
                       "application/samlmetadata+xml")
        elif url.path == "/sso/redirect":
            self.sso(parse_qs(url.query))
        elif url.path == "/slo/redirect":
            self.slo(parse_qs(url.query))
        elif url.path == "/test/logouts":
            self.reply(200, json.dumps(STATE["logouts"]), "application/json")
        else:
            self.reply(404, "not found")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")) or 0)
        data = json.loads(body or b"{}")
        if self.path == "/test/sp":
            STATE["sp"] = (data["entity_id"], data["acs_url"])
            self.reply(200, "ok", "text/plain")
        elif self.path == "/test/next":
            STATE["next"] = data
            self.reply(200, "ok", "text/plain")
        else:
            self.reply(404, "not found")

    def slo(self, query):
        idp = make_server()
        try:
            req = idp.parse_logout_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        except Exception as e:
            self.reply(400, f"bad LogoutRequest: {e}", "text/plain")
            return
        STATE["logouts"].append(req.message.name_id.text)
        self.reply(200, "You have been signed out of the test IdP.", "text/plain")

    def sso(self, query):
        nxt = STATE["next"]
        idp = make_server(-10 if nxt.get("expired") else 15)
        try:
            req = idp.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        except Exception as e:  # a test IdP: show what was wrong
            self.reply(400, f"bad AuthnRequest: {e}", "text/plain")
            return
        relay = query.get("RelayState", [""])[0]
        args = idp.response_args(req.message)
        algs = ({"sign_alg": SIG_RSA_SHA1, "digest_alg": DIGEST_SHA1} if nxt.get("sha1")
                else {"sign_alg": SIG_RSA_SHA256, "digest_alg": DIGEST_SHA256})
        if nxt.get("deny"):
            resp = idp.create_error_response(
                req.message.id, args["destination"], (STATUS_AUTHN_FAILED, "The user cancelled"),
                sign=True, **algs)
        else:
            identity = {
                "mail": [nxt.get("mail", "")],
                "givenName": [nxt.get("givenName", "")],
                "sn": [nxt.get("sn", "")],
            }
            if nxt.get("groups"):
                identity["groups"] = nxt["groups"]
            name_id = NameID(format=NAMEID_FORMAT_PERSISTENT, text=nxt.get("sub", "anonymous"))
            # A response signed for another service provider or ACS.
            signed_for = dict(args)
            if nxt.get("audience"):
                signed_for["sp_entity_id"] = OTHER_SP
            if nxt.get("recipient"):
                signed_for["destination"] = nxt["recipient"]
            resp = idp.create_authn_response(
                identity, name_id=name_id,
                authn={"class_ref": nxt.get("class_ref", PASSWORD), "authn_auth": f"{BASE}/metadata"},
                sign_response=not nxt.get("unsigned"), sign_assertion=False, **algs,
                **{k: signed_for[k] for k in ("in_response_to", "destination", "sp_entity_id", "name_id_policy")},
            )
        xml = str(resp)
        if nxt.get("tamper"):
            # Changed after signing: the signature no longer matches.
            xml = xml.replace(nxt.get("mail", ""), nxt["tamper"])
        http_args = idp.apply_binding(BINDING_HTTP_POST, xml, args["destination"], relay, response=True)
        # apply_binding base64-encodes the message into an auto-posting form.
        self.reply(200, http_args["data"])


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    print(f"ready {PORT}", flush=True)
    server.serve_forever()
