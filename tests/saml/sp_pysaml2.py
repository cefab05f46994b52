"""A SAML service provider built on pysaml2 (signatures checked by Debian's
xmlsec1 binary), for the end-to-end test of the Portcullis IdP.

    python sp_pysaml2.py PORT IDP_METADATA_FILE WORKDIR

GET /login starts SP-initiated SSO (HTTP-Redirect, signed RSA-SHA256); POST
/acs validates the Response (signature, audience, recipient, times,
InResponseTo) and shows the NameID and attributes; an IdP-initiated
(unsolicited) Response is accepted only without InResponseTo."""

import sys

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from common import lock, make_key_pair, page, redirect, serve

port, idp_metadata, workdir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
base = f"http://127.0.0.1:{port}"
key_file, cert_file = make_key_pair(workdir, "pysaml2-sp")

config = SPConfig()
config.load(
    {
        "entityid": f"{base}/metadata",
        "service": {
            "sp": {
                "endpoints": {
                    "assertion_consumer_service": [(f"{base}/acs", BINDING_HTTP_POST)],
                    "single_logout_service": [(f"{base}/slo", BINDING_HTTP_REDIRECT)],
                },
                # IdP-initiated sign-in from the portal tile.
                "allow_unsolicited": True,
                "authn_requests_signed": True,
                "logout_requests_signed": True,
                "want_assertions_signed": True,
                "want_response_signed": True,
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
            }
        },
        "metadata": {"local": [idp_metadata]},
        "key_file": key_file,
        "cert_file": cert_file,
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "accepted_time_diff": 30,
    }
)
client = Saml2Client(config)
idp_entity = next(iter(client.metadata.identity_providers()))
outstanding = {}

md_path = f"{workdir}/sp-metadata.xml"
with open(md_path, "w") as f:
    f.write(create_metadata_string(None, config=config, sign=False).decode())


def login(h, query, form, raw):
    sid, info = client.prepare_for_authenticate(
        entityid=idp_entity,
        relay_state=query.get("relay", "from-login"),
        binding=BINDING_HTTP_REDIRECT,
        sigalg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
    )
    with lock:
        outstanding[sid] = "/"
    location = dict(info["headers"])["Location"]
    redirect(h, location)


def acs(h, query, form, raw):
    with lock:
        expected = dict(outstanding)
    resp = client.parse_authn_request_response(form["SAMLResponse"], BINDING_HTTP_POST, outstanding=expected)
    if resp is None:
        raise ValueError("no response")
    irt = resp.in_response_to
    if irt is not None:
        with lock:
            if outstanding.pop(irt, None) is None:
                raise ValueError(f"InResponseTo {irt} was never asked")
    lines = [f"nameid={resp.name_id.text}", f"relay={form.get('RelayState', '')}", f"irt={irt}"]
    # The attributes of the verified assertion, under the names the IdP sent.
    for statement in resp.assertion.attribute_statement:
        for a in statement.attribute:
            lines.append(f"{a.name}={','.join(v.text or '' for v in a.attribute_value)}")
    ctx = resp.authn_info()
    lines += [f"authn_context={c[0]}" for c in ctx]
    page(h, 200, "SAML OK pysaml2", "\n".join(lines))


def metadata(h, query, form, raw):
    with open(md_path, "rb") as f:
        data = f.read()
    h.send_response(200)
    h.send_header("content-type", "application/samlmetadata+xml")
    h.end_headers()
    h.wfile.write(data)


serve(
    port,
    {("GET", "/login"): login, ("POST", "/acs"): acs, ("GET", "/metadata"): metadata},
    {"ready": True, "metadata": md_path, "entity_id": f"{base}/metadata"},
)
