"""A SAML service provider built on OneLogin's python3-saml (xmlsec binding),
strict, with rejectDeprecatedAlgorithm on, for the end-to-end test of the
Portcullis IdP.

    python sp_onelogin.py PORT IDP_METADATA_FILE WORKDIR

GET /login starts SP-initiated SSO; POST /acs validates the Response
(signatures, audience, destination/recipient, times, InResponseTo against
the request this SP sent); GET /logout starts SP-initiated single logout;
GET /slo answers the IdP's LogoutRequest or checks its LogoutResponse."""

import base64
import re
import sys

from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from common import lock, make_key_pair, page, redirect, serve

port, idp_metadata, workdir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
base = f"http://127.0.0.1:{port}"
key_file, cert_file = make_key_pair(workdir, "onelogin-sp")
with open(key_file) as f:
    key_pem = f.read()
with open(cert_file) as f:
    cert_pem = f.read()
with open(idp_metadata) as f:
    idp_settings = OneLogin_Saml2_IdPMetadataParser.parse(f.read())

security = {
    "authnRequestsSigned": True,
    "logoutRequestSigned": True,
    "logoutResponseSigned": True,
    "wantMessagesSigned": True,
    "wantAssertionsSigned": True,
    "wantNameId": True,
    "wantAttributeStatement": False,
    "requestedAuthnContext": False,
    "signatureAlgorithm": C.RSA_SHA256,
    "digestAlgorithm": C.SHA256,
    "rejectDeprecatedAlgorithm": True,
    "rejectUnsolicitedResponsesWithInResponseTo": True,
}
settings = OneLogin_Saml2_IdPMetadataParser.merge_settings(
    {
        "strict": True,
        "debug": True,
        "sp": {
            "entityId": f"{base}/metadata",
            "assertionConsumerService": {"url": f"{base}/acs", "binding": C.BINDING_HTTP_POST},
            "singleLogoutService": {"url": f"{base}/slo", "binding": C.BINDING_HTTP_REDIRECT},
            "NameIDFormat": C.NAMEID_EMAIL_ADDRESS,
            "x509cert": cert_pem,
            "privateKey": key_pem,
        },
        "security": dict(security),
    },
    idp_settings,
)
# The IdP's metadata (WantAuthnRequestsSigned="false") must not weaken what this SP does.
settings["security"].update(security)
saml_settings = OneLogin_Saml2_Settings(settings, sp_validation_only=False)
md_path = f"{workdir}/sp-metadata.xml"
with open(md_path, "w") as f:
    md = saml_settings.get_sp_metadata()
    f.write(md.decode() if isinstance(md, bytes) else md)

outstanding = set()
# The LogoutRequest this SP sent last, apart from AuthnRequest IDs (a set has
# no order to pick it by).
pending_logout = {}
last = {}


def request_data(h, path, query, form, raw):
    return {
        "https": "off",
        "http_host": "127.0.0.1",
        "server_port": str(port),
        "script_name": path,
        "get_data": query,
        "post_data": form,
        "query_string": raw,
        # Check redirect signatures over the query exactly as received.
        "validate_signature_from_qs": True,
    }


def login(h, query, form, raw):
    auth = OneLogin_Saml2_Auth(request_data(h, "/login", query, form, raw), saml_settings)
    url = auth.login(return_to=query.get("relay", "from-login"))
    with lock:
        outstanding.add(auth.get_last_request_id())
    redirect(h, url)


def acs(h, query, form, raw):
    xml = base64.b64decode(form.get("SAMLResponse", "")).decode(errors="replace")
    m = re.search(r'<[^>]*Response[^>]*\sInResponseTo="([^"]+)"', xml)
    irt = m.group(1) if m else None
    with lock:
        request_id = irt if irt in outstanding else None
    if irt is not None and request_id is None:
        raise ValueError(f"InResponseTo {irt} was never asked")
    auth = OneLogin_Saml2_Auth(request_data(h, "/acs", query, form, raw), saml_settings)
    auth.process_response(request_id=request_id)
    if auth.get_errors() or not auth.is_authenticated():
        raise ValueError(f"{auth.get_errors()} {auth.get_last_error_reason()}")
    with lock:
        outstanding.discard(request_id)
        last.update(
            nameid=auth.get_nameid(),
            fmt=auth.get_nameid_format(),
            sidx=auth.get_session_index(),
        )
    lines = [f"nameid={auth.get_nameid()}", f"relay={form.get('RelayState', '')}", f"irt={irt}"]
    lines += [f"{k}={','.join(v)}" for k, v in sorted(auth.get_attributes().items())]
    lines += [f"authn_context={c}" for c in auth.get_last_authn_contexts()]
    page(h, 200, "SAML OK python3-saml", "\n".join(lines))


def logout(h, query, form, raw):
    auth = OneLogin_Saml2_Auth(request_data(h, "/logout", query, form, raw), saml_settings)
    with lock:
        who = dict(last)
    url = auth.logout(
        return_to="after-logout",
        name_id=who.get("nameid"),
        session_index=who.get("sidx"),
        name_id_format=who.get("fmt"),
    )
    with lock:
        pending_logout["id"] = auth.get_last_request_id()
    redirect(h, url)


def slo(h, query, form, raw):
    auth = OneLogin_Saml2_Auth(request_data(h, "/slo", query, form, raw), saml_settings)
    request_id = None
    if "SAMLResponse" in query:
        with lock:
            request_id = pending_logout.pop("id", None)
    url = auth.process_slo(request_id=request_id, keep_local_session=True)
    if auth.get_errors():
        raise ValueError(f"{auth.get_errors()} {auth.get_last_error_reason()}")
    if url:
        # The IdP's LogoutRequest: answer with a signed LogoutResponse.
        with lock:
            last.clear()
        redirect(h, url)
    else:
        page(h, 200, "SAML LOGGED OUT python3-saml", f"relay={query.get('RelayState', '')}")


def metadata(h, query, form, raw):
    with open(md_path, "rb") as f:
        data = f.read()
    h.send_response(200)
    h.send_header("content-type", "application/samlmetadata+xml")
    h.end_headers()
    h.wfile.write(data)


serve(
    port,
    {
        ("GET", "/login"): login,
        ("POST", "/acs"): acs,
        ("GET", "/logout"): logout,
        ("GET", "/slo"): slo,
        ("GET", "/metadata"): metadata,
    },
    {"ready": True, "metadata": md_path, "entity_id": f"{base}/metadata"},
)
