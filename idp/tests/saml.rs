//! The SAML identity provider, driven through the router in memory: metadata,
//! SP-initiated SSO over both bindings, IdP-initiated SSO from the tile,
//! MFA, single logout in both directions, and every bad input next to the
//! good one.

mod support;

use std::sync::OnceLock;

use axum::http::{StatusCode, header};
use base64::Engine;
use idp::saml::decode::{self, Element};
use idp::saml::wire::{NS_ASSERTION, NS_PROTOCOL, instant};
use openssl::pkey::{PKey, Private};
use serde_json::json;
use support::{Browser, DEMO_EMAIL, DEMO_PASSWORD, Kit, Page, kit_with};

const SP: &str = "https://sp.example.com/metadata";
const ACS: &str = "https://sp.example.com/acs";
const ACS2: &str = "https://sp.example.com/acs2";
const SLO: &str = "https://sp.example.com/slo";
const SIGNED: &str = "https://signed.example.com/metadata";
const SIGNED_ACS: &str = "https://signed.example.com/acs";
const MFA_SP: &str = "https://mfa.example.com/metadata";
const PAYROLL: &str = "https://payroll.example.com/metadata";

/// The SP's key pair: (private key, certificate PEM, PKCS#1 DER).
fn sp_key() -> &'static (PKey<Private>, String, Vec<u8>) {
    static KEY: OnceLock<(PKey<Private>, String, Vec<u8>)> = OnceLock::new();
    KEY.get_or_init(|| {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let der = rsa.private_key_to_der().unwrap();
        let key = PKey::from_rsa(rsa).unwrap();
        (key.clone(), self_signed(&key), der)
    })
}

fn self_signed(key: &PKey<Private>) -> String {
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "sp").unwrap();
    let name = name.build();
    let mut b = openssl::x509::X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(key, openssl::hash::MessageDigest::sha256()).unwrap();
    String::from_utf8(b.build().to_pem().unwrap()).unwrap()
}

fn sp(v: serde_json::Value) -> idp::saml::ServiceProviderConfig {
    serde_json::from_value(v).unwrap()
}

async fn saml_kit() -> Kit {
    let cert = sp_key().1.clone();
    let k = kit_with(|c| {
        c.saml.service_providers = vec![
            sp(json!({
                "entity_id": SP,
                "acs": [{"url": ACS}, {"url": ACS2, "index": 1}],
                "slo_url": SLO,
                "certificate": cert,
                "application": "Team Wiki",
                "relay_state": "/welcome",
                "attributes": {"mail": "email", "givenName": "first_name", "groups": "groups"},
            })),
            sp(json!({
                "entity_id": SIGNED,
                "acs": [{"url": SIGNED_ACS}],
                "slo_url": "https://signed.example.com/slo",
                "slo_binding": "HTTP-POST",
                "certificate": cert,
                "require_signed_requests": true,
                "application": "Team Wiki",
                "sign": "assertion",
            })),
            sp(json!({
                "entity_id": MFA_SP,
                "acs": [{"url": "https://mfa.example.com/acs"}],
                "application": "Team Wiki",
                "require_mfa": true,
                "name_id_format": "persistent",
            })),
            sp(json!({
                "entity_id": PAYROLL,
                "acs": [{"url": "https://payroll.example.com/acs"}],
                "application": "Payroll",
            })),
        ];
    })
    .await;
    k.unassigned_application("Payroll").await;
    k
}

fn authn_request(id: &str, issuer: &str, attrs: &str, inner: &str) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="{id}" Version="2.0" IssueInstant="{}" {attrs}><saml:Issuer>{issuer}</saml:Issuer>{inner}</samlp:AuthnRequest>"#,
        instant(idp::clock::now())
    )
}

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The query of an HTTP-Redirect message, signed with the SP key when asked.
fn redirect_query(xml: &str, relay: Option<&str>, sign: bool) -> String {
    let url =
        idp::saml::binding::redirect_url("x", "SAMLRequest", xml, relay, &sp_key().0).unwrap();
    let q = url.split_once('?').unwrap().1.to_string();
    if sign {
        q
    } else {
        q.split("&SigAlg=").next().unwrap().to_string()
    }
}

/// An enveloped signature by the SP key over the root (ID `id`).
fn sign_post(xml: &str, id: &str) -> String {
    let cert_b64: String = sp_key()
        .1
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let tpl = idp::saml::signature::template(id, &cert_b64);
    // The signature goes right after the Issuer.
    let xml = xml.replacen("</saml:Issuer>", &format!("</saml:Issuer>{tpl}"), 1);
    idp::saml::signature::sign_enveloped(&xml, &sp_key().2).unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The auto-submitting form: (action, fields).
fn form(page: &Page) -> (String, Vec<(String, String)>) {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let grab = |from: &str, marker: &str| -> Option<(String, usize)> {
        let start = from.find(marker)? + marker.len();
        let end = from[start..].find('"')? + start;
        Some((unescape(&from[start..end]), end))
    };
    let (action, _) = grab(&page.body, "action=\"").expect("a form");
    let mut fields = Vec::new();
    let mut rest = page.body.as_str();
    while let Some((name, end)) = grab(rest, "type=\"hidden\" name=\"") {
        rest = &rest[end..];
        let (value, end) = grab(rest, "value=\"").unwrap();
        rest = &rest[end..];
        fields.push((name, value));
    }
    (action, fields)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The Response posted by a page, checked against the IdP's certificate.
async fn response_of(k: &Kit, page: &Page) -> (String, Element, String) {
    let (action, fields) = form(page);
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(field(&fields, "SAMLResponse").expect("SAMLResponse"))
            .unwrap(),
    )
    .unwrap();
    let keys = k.idp.saml_keys().await.unwrap();
    let signer = keys.signer().unwrap();
    let root = decode::parse(&xml).unwrap();
    assert!(root.is(NS_PROTOCOL, "Response"));
    if root.child(idp::saml::wire::NS_DSIG, "Signature").is_some() {
        idp::saml::signature::verify_enveloped(&xml, &signer.cert_der).expect("response signature");
    }
    (action, root, xml)
}

fn status_of(root: &Element) -> Vec<String> {
    let mut out = Vec::new();
    let mut code = root
        .child(NS_PROTOCOL, "Status")
        .and_then(|s| s.child(NS_PROTOCOL, "StatusCode"));
    while let Some(c) = code {
        out.push(
            c.attr("Value")
                .unwrap_or("")
                .rsplit(':')
                .next()
                .unwrap()
                .to_string(),
        );
        code = c.child(NS_PROTOCOL, "StatusCode");
    }
    out
}

fn assertion(root: &Element) -> &Element {
    root.child(NS_ASSERTION, "Assertion").expect("an assertion")
}

async fn sso_get(b: &mut Browser, query: &str) -> Page {
    b.get(&format!("/saml/sso?{query}")).await
}

async fn sso_post(b: &mut Browser, fields: &[(&str, &str)]) -> Page {
    b.post_raw("/saml/sso", fields).await
}

#[tokio::test]
async fn metadata_publishes_entity_certificate_endpoints_and_rotation_overlap() {
    let k = saml_kit().await;
    let mut b = k.browser();
    let page = b.get("/saml/metadata").await;
    assert_eq!(page.status, StatusCode::OK);
    let root = decode::parse(&page.body).unwrap();
    assert_eq!(
        root.attr("entityID"),
        Some("https://portal.localhost/saml/metadata")
    );
    for needle in [
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"https://portal.localhost/saml/sso\"",
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"https://portal.localhost/saml/sso\"",
        "Location=\"https://portal.localhost/saml/slo\"",
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    ] {
        assert!(page.body.contains(needle), "{needle}");
    }
    assert_eq!(page.body.matches("<ds:X509Certificate>").count(), 1);

    // Rotation publishes a standby first: the current certificate goes on
    // signing, and the new one is listed after it.
    let signer = |k: &Kit| {
        let idp = k.idp.clone();
        async move { idp.saml_keys().await.unwrap().signer().unwrap().cert_b64() }
    };
    let old = signer(&k).await;
    let actor = support::admin_actor();
    let (standby, delay) = idp::admin::keys::rotate_saml(&k.idp, &actor).await.unwrap();
    assert_eq!(delay, k.idp.config.saml.cert_overlap);
    let page = b.get("/saml/metadata").await;
    assert_eq!(page.body.matches("<ds:X509Certificate>").count(), 2);
    assert_eq!(signer(&k).await, old, "the switch waits for the overlap");
    let keys = k.idp.saml_keys().await.unwrap();
    let next = keys.standby().expect("a standby").cert_b64();
    assert_ne!(next, old);
    assert!(
        page.body.find(&old).unwrap() < page.body.find(&next).unwrap(),
        "signer first"
    );
    // Every instance switches at the same stored instant: read it back
    // rather than recompute it from a clock that moved on since the
    // rotation (by seconds, on a busy machine).
    let listed = idp::admin::keys::list(&k.idp).await.unwrap();
    let row = listed.iter().find(|r| r.kid == standby).unwrap();
    let switch = row.activates_at.expect("a standby has its switch instant");
    assert!(switch >= row.created_at + delay.as_secs() as i64);
    assert_eq!(keys.signer_at(switch - 1).unwrap().cert_b64(), old);
    assert_eq!(keys.signer_at(switch).unwrap().cert_b64(), next);
    assert_eq!(row.state(switch - 1), "standby");
    assert_eq!(row.state(switch + 1), "signing");

    // An emergency rotation signs at once and supersedes the standby.
    idp::admin::keys::rotate_saml_now(&k.idp, &actor)
        .await
        .unwrap();
    let new = signer(&k).await;
    assert_ne!(new, old);
    assert_ne!(new, next);
    let keys = k.idp.saml_keys().await.unwrap();
    assert!(keys.standby().is_none());
    assert_eq!(keys.signer_at(switch + 1).unwrap().cert_b64(), new);
    let page = b.get("/saml/metadata").await;
    assert_eq!(page.body.matches("<ds:X509Certificate>").count(), 3);
    assert!(
        page.body.find(&new).unwrap() < page.body.find(&old).unwrap(),
        "signer first"
    );
    // The PEM files for operators.
    assert!(
        k.idp
            .config
            .store
            .data_dir
            .join("saml/signing.pem")
            .is_file()
    );
}

#[tokio::test]
async fn metadata_says_whether_authn_requests_must_be_signed() {
    let want = |xml: &str| {
        decode::parse(xml)
            .unwrap()
            .children
            .iter()
            .find(|c| c.name == "IDPSSODescriptor")
            .and_then(|d| d.attr("WantAuthnRequestsSigned").map(str::to_string))
    };
    // One SP of the kit must sign: the shared document cannot promise less.
    let k = saml_kit().await;
    let mut b = k.browser();
    let shared = b.get("/saml/metadata").await;
    assert_eq!(want(&shared.body).as_deref(), Some("true"));
    let one = b
        .get(&format!("/saml/metadata?sp={}", urlencoding(SIGNED)))
        .await;
    assert_eq!(want(&one.body).as_deref(), Some("true"));
    let other = b
        .get(&format!("/saml/metadata?sp={}", urlencoding(SP)))
        .await;
    assert_eq!(want(&other.body).as_deref(), Some("false"));
    let unknown = b
        .get("/saml/metadata?sp=https%3A%2F%2Fnobody.example")
        .await;
    assert_eq!(want(&unknown.body).as_deref(), Some("true"));

    // No SP must sign: false, unless the operator asks every SP to.
    let k = support::kit().await;
    let mut b = k.browser();
    assert_eq!(
        want(&b.get("/saml/metadata").await.body).as_deref(),
        Some("false")
    );
    let k = kit_with(|c| c.saml.want_authn_requests_signed = true).await;
    let mut b = k.browser();
    assert_eq!(
        want(&b.get("/saml/metadata").await.body).as_deref(),
        Some("true")
    );
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn attribute_release_by_oid_with_name_formats_and_friendly_names() {
    const SHIB: &str = "https://shib.example.com/shibboleth";
    const SHIB_ACS: &str = "https://shib.example.com/Shibboleth.sso/SAML2/POST";
    let k = kit_with(|c| {
        c.saml.service_providers = vec![sp(json!({
            "entity_id": SHIB,
            "acs": [{"url": SHIB_ACS}],
            "application": "Team Wiki",
            // Only what the maps below say: no basic names.
            "attributes": {},
            "attribute_profile": "eduperson",
            "attribute_map": [
                {"name": "urn:oid:2.5.4.8", "source": "profile.work_city", "friendly_name": "st"},
                {"name": "department", "source": "groups", "name_format": "unspecified"},
                // Also in the profile: the explicit rule overrides it.
                {"name": "urn:oid:0.9.2342.19200300.100.1.3", "source": "username"},
            ],
        }))];
    })
    .await;
    let mut b = k.signed_in().await;
    let xml = authn_request(
        "_attr1",
        SHIB,
        &format!(r#"AssertionConsumerServiceURL="{SHIB_ACS}""#),
        "",
    );
    let page = sso_get(&mut b, &redirect_query(&xml, None, false)).await;
    let (_, root, _) = response_of(&k, &page).await;
    assert_eq!(status_of(&root), vec!["Success"]);
    let statement = assertion(&root)
        .child(NS_ASSERTION, "AttributeStatement")
        .expect("attributes");
    let attrs: Vec<(String, String, Option<String>, Vec<String>)> = statement
        .children_named(NS_ASSERTION, "Attribute")
        .map(|a| {
            (
                a.attr("Name").unwrap().to_string(),
                a.attr("NameFormat").unwrap().to_string(),
                a.attr("FriendlyName").map(str::to_string),
                a.children_named(NS_ASSERTION, "AttributeValue")
                    .map(|v| v.text.clone())
                    .collect(),
            )
        })
        .collect();
    let find = |name: &str| attrs.iter().find(|a| a.0 == name).cloned();
    let uri = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
    let mail = find("urn:oid:0.9.2342.19200300.100.1.3").expect("mail");
    assert_eq!(mail.1, uri);
    assert_eq!(mail.3, vec!["dreyes".to_string()]);
    let eppn = find("urn:oid:1.3.6.1.4.1.5923.1.1.1.6").expect("eduPersonPrincipalName");
    assert_eq!(
        eppn,
        (
            eppn.0.clone(),
            uri.into(),
            Some("eduPersonPrincipalName".into()),
            vec![DEMO_EMAIL.to_string()]
        )
    );
    let groups = find("urn:oid:1.3.6.1.4.1.5923.1.5.1.1").expect("isMemberOf");
    assert_eq!(groups.2.as_deref(), Some("isMemberOf"));
    assert_eq!(groups.3, vec!["Staff".to_string()]);
    assert_eq!(
        find("urn:oid:2.5.4.42").unwrap().3,
        vec!["Dana".to_string()]
    );
    assert_eq!(
        find("urn:oid:2.5.4.8").unwrap().3,
        vec!["Porto".to_string()]
    );
    let dept = find("department").unwrap();
    assert_eq!(
        dept.1,
        "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
    );
    assert_eq!(dept.2, None);
    assert!(
        find("mail").is_none() && find("firstName").is_none(),
        "{attrs:?}"
    );
    assert_eq!(
        attrs.iter().filter(|a| a.0 == mail.0).count(),
        1,
        "one mail attribute"
    );
}

#[tokio::test]
async fn sp_initiated_redirect_for_a_signed_in_user() {
    let k = saml_kit().await;
    let mut b = k.signed_in().await;
    let xml = authn_request(
        "_r1",
        SP,
        &format!(
            r#"AssertionConsumerServiceURL="{ACS}" Destination="https://portal.localhost/saml/sso""#
        ),
        "",
    );
    let page = sso_get(&mut b, &redirect_query(&xml, Some("rs-123"), true)).await;
    let csp = page
        .headers
        .get(header::CONTENT_SECURITY_POLICY)
        .unwrap()
        .to_str()
        .unwrap();
    // Chromium applies form-action to every redirect after the POST: an
    // ACS that redirects to the application's own host must not be stopped
    // on our page, so the auto-post page names no form-action at all.
    assert!(!csp.contains("form-action"), "{csp}");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let (action, root, raw) = response_of(&k, &page).await;
    assert_eq!(action, ACS);
    assert_eq!(field(&form(&page).1, "RelayState"), Some("rs-123"));
    assert_eq!(status_of(&root), vec!["Success"]);
    assert_eq!(root.attr("InResponseTo"), Some("_r1"));
    assert_eq!(root.attr("Destination"), Some(ACS));
    let a = assertion(&root);
    // Both the Response and the Assertion are signed (the default).
    assert!(a.child(idp::saml::wire::NS_DSIG, "Signature").is_some());
    assert!(raw.contains("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"));
    assert!(raw.contains("http://www.w3.org/2001/10/xml-exc-c14n#"));
    assert!(!raw.contains("xmldsig#sha1"), "SHA-256 digests only");
    let subject = a.child(NS_ASSERTION, "Subject").unwrap();
    assert_eq!(
        subject.child(NS_ASSERTION, "NameID").unwrap().text,
        DEMO_EMAIL
    );
    let data = subject
        .child(NS_ASSERTION, "SubjectConfirmation")
        .unwrap()
        .child(NS_ASSERTION, "SubjectConfirmationData")
        .unwrap();
    assert_eq!(data.attr("Recipient"), Some(ACS));
    assert_eq!(data.attr("InResponseTo"), Some("_r1"));
    assert!(data.attr("NotOnOrAfter").is_some());
    let cond = a.child(NS_ASSERTION, "Conditions").unwrap();
    assert!(cond.attr("NotBefore").is_some() && cond.attr("NotOnOrAfter").is_some());
    assert_eq!(
        cond.child(NS_ASSERTION, "AudienceRestriction")
            .unwrap()
            .child(NS_ASSERTION, "Audience")
            .unwrap()
            .text,
        SP
    );
    let authn = a.child(NS_ASSERTION, "AuthnStatement").unwrap();
    assert!(authn.attr("SessionIndex").is_some() && authn.attr("AuthnInstant").is_some());
    assert!(raw.contains("PasswordProtectedTransport"), "no MFA yet");
    assert!(raw.contains(r#"<saml:Attribute Name="mail""#));
    assert!(raw.contains("<saml:AttributeValue>Dana</saml:AttributeValue>"));

    // The NameID changed after signing: the signatures no longer verify.
    let keys = k.idp.saml_keys().await.unwrap();
    let tampered = raw.replace(DEMO_EMAIL, "mallory@example.com");
    assert!(
        idp::saml::signature::verify_enveloped(&tampered, &keys.signer().unwrap().cert_der)
            .is_err()
    );

    // The same request again is a replay.
    let page = sso_get(&mut b, &redirect_query(&xml, None, true)).await;
    let (_, root, _) = response_of(&k, &page).await;
    assert_eq!(status_of(&root), vec!["Requester", "RequestDenied"]);
}

#[tokio::test]
async fn a_user_without_a_session_signs_in_and_comes_back() {
    let k = saml_kit().await;
    let mut b = k.browser();
    let xml = authn_request("_r2", SP, "", "");
    let page = sso_get(&mut b, &redirect_query(&xml, None, false)).await;
    let to = page.location().unwrap().to_string();
    assert!(
        to.starts_with("/login?return_to=%2Fsaml%2Fsso%2Fcontinue"),
        "{to}"
    );
    let cont: String = url::form_urlencoded::parse(to.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "return_to")
        .unwrap()
        .1
        .into_owned();
    let res = b.sign_in_to(DEMO_EMAIL, DEMO_PASSWORD, &cont).await;
    assert_eq!(res.location(), Some(cont.as_str()));
    let page = b.get(&cont).await;
    let (action, root, _) = response_of(&k, &page).await;
    assert_eq!(action, ACS, "the default ACS");
    assert_eq!(status_of(&root), vec!["Success"]);
    assert_eq!(root.attr("InResponseTo"), Some("_r2"));
    // Answered once: the continuation does not work twice.
    let again = b.get(&cont).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.has("already answered"));
}

#[tokio::test]
async fn post_binding_with_enveloped_signature_and_its_failures() {
    let k = saml_kit().await;
    let mut b = k.signed_in().await;
    let xml = authn_request("_p1", SIGNED, "", "");
    let signed = sign_post(&xml, "_p1");
    let page = sso_post(
        &mut b,
        &[
            ("SAMLRequest", &b64(signed.as_bytes())),
            ("RelayState", "x"),
        ],
    )
    .await;
    let (action, root, _) = response_of(&k, &page).await;
    assert_eq!(action, SIGNED_ACS);
    assert_eq!(status_of(&root), vec!["Success"]);
    // sign = "assertion": the Response itself carries no signature.
    assert!(root.child(idp::saml::wire::NS_DSIG, "Signature").is_none());
    let a = assertion(&root);
    assert!(a.child(idp::saml::wire::NS_DSIG, "Signature").is_some());

    // Unsigned, to an SP that requires signatures.
    let xml = authn_request("_p2", SIGNED, "", "");
    let page = sso_post(&mut b, &[("SAMLRequest", &b64(xml.as_bytes()))]).await;
    let (action, root, _) = response_of(&k, &page).await;
    assert_eq!(action, SIGNED_ACS);
    assert_eq!(status_of(&root), vec!["Requester", "RequestDenied"]);
    assert!(root.child(NS_ASSERTION, "Assertion").is_none());

    // Signed, then changed.
    let xml = authn_request("_p3", SIGNED, "", "");
    let tampered =
        sign_post(&xml, "_p3").replace("Version=\"2.0\"", "Version=\"2.0\" ForceAuthn=\"false\"");
    let page = sso_post(&mut b, &[("SAMLRequest", &b64(tampered.as_bytes()))]).await;
    let (_, root, _) = response_of(&k, &page).await;
    assert_eq!(status_of(&root), vec!["Requester", "RequestDenied"]);

    // Redirect binding: signed by another key, and with SHA-1.
    let other = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let xml = authn_request("_p4", SIGNED, "", "");
    let url = idp::saml::binding::redirect_url("x", "SAMLRequest", &xml, None, &other).unwrap();
    let page = sso_get(&mut b, url.split_once('?').unwrap().1).await;
    let (_, root, _) = response_of(&k, &page).await;
    assert_eq!(status_of(&root), vec!["Requester", "RequestDenied"]);
    let xml = authn_request("_p5", SIGNED, "", "");
    let q = redirect_query(&xml, None, true).replace("rsa-sha256", "rsa-sha1");
    let page = sso_get(&mut b, &q).await;
    let (_, root, _) = response_of(&k, &page).await;
    assert_eq!(status_of(&root), vec!["Requester", "RequestDenied"]);
    // And the same over redirect, correctly signed, works.
    let xml = authn_request("_p6", SIGNED, "", "");
    let page = sso_get(&mut b, &redirect_query(&xml, Some("r"), true)).await;
    let (_, root, _) = response_of(&k, &page).await;
    assert_eq!(status_of(&root), vec!["Success"]);
}

#[tokio::test]
async fn unknown_sp_and_unregistered_acs_get_a_page_not_a_post() {
    let k = saml_kit().await;
    let mut b = k.signed_in().await;
    let xml = authn_request("_u1", "https://evil.example.com/sp", "", "");
    let page = sso_get(&mut b, &redirect_query(&xml, None, false)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.has("not registered") && !page.body.contains("SAMLResponse"));

    let xml = authn_request(
        "_u2",
        SP,
        r#"AssertionConsumerServiceURL="https://evil.example.com/acs""#,
        "",
    );
    let page = sso_get(&mut b, &redirect_query(&xml, None, false)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(!page.body.contains("SAMLResponse"));

    // A prefix of a registered ACS is not that ACS.
    let xml = authn_request(
        "_u3",
        SP,
        &format!(r#"AssertionConsumerServiceURL="{ACS}/x""#),
        "",
    );
    let page = sso_get(&mut b, &redirect_query(&xml, None, false)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);

    // By index.
    let xml = authn_request("_u4", SP, r#"AssertionConsumerServiceIndex="1""#, "");
    let page = sso_get(&mut b, &redirect_query(&xml, None, false)).await;
    assert_eq!(response_of(&k, &page).await.0, ACS2);
    let xml = authn_request("_u5", SP, r#"AssertionConsumerServiceIndex="7""#, "");
    let page = sso_get(&mut b, &redirect_query(&xml, None, false)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn malformed_messages_get_a_page() {
    let k = saml_kit().await;
    let mut b = k.signed_in().await;
    let deflate = |s: &str| {
        use std::io::Write;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(s.as_bytes()).unwrap();
        b64(&z.finish().unwrap())
    };
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let xxe = format!(
        r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>{}"#,
        authn_request("_x", SP, "", "")
    );
    let big = authn_request("_big", SP, "", &"<!-- padding -->".repeat(10_000));
    for (query, status, text) in [
        (
            "SAMLRequest=%%%".to_string(),
            StatusCode::BAD_REQUEST,
            "base64",
        ),
        (
            format!("SAMLRequest={}", enc(&b64(b"not deflate"))),
            StatusCode::BAD_REQUEST,
            "DEFLATE",
        ),
        (
            format!("SAMLRequest={}", enc(&deflate("<samlp:AuthnRequest"))),
            StatusCode::BAD_REQUEST,
            "well-formed",
        ),
        (
            format!("SAMLRequest={}", enc(&deflate(&xxe))),
            StatusCode::BAD_REQUEST,
            "DTD",
        ),
        (
            format!("SAMLRequest={}", enc(&deflate(&big))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger",
        ),
        (
            "RelayState=x".to_string(),
            StatusCode::BAD_REQUEST,
            "no SAMLRequest",
        ),
        (
            "SAMLRequest=a&SAMLRequest=b".to_string(),
            StatusCode::BAD_REQUEST,
            "repeated",
        ),
    ] {
        let page = sso_get(&mut b, &query).await;
        assert_eq!(page.status, status, "{query:.60}: {}", page.body);
        assert!(page.has(text), "{text}: {}", page.body);
    }
    let page = sso_post(&mut b, &[("SAMLRequest", "!!notbase64!!")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let page = sso_post(&mut b, &[("SAMLRequest", &b64(xxe.as_bytes()))]).await;
    assert!(page.has("DTD"));
}

#[tokio::test]
async fn bad_requests_from_a_known_sp_get_a_saml_error_at_the_acs() {
    let k = saml_kit().await;
    let mut b = k.signed_in().await;
    let old = instant(idp::clock::now() - 3600);
    let expired = authn_request("_e1", SP, "", "").replacen(
        &format!("IssueInstant=\"{}\"", instant(idp::clock::now())),
        &format!("IssueInstant=\"{old}\""),
        1,
    );
    let cases = [
        (expired, vec!["Requester", "RequestDenied"]),
        (
            authn_request("_e2", SP, "Version=\"2.0\"", "")
                .replacen("Version=\"2.0\" ", "", 1)
                .replace("Version=\"2.0\"", "Version=\"3.0\""),
            vec!["VersionMismatch"],
        ),
        (
            authn_request(
                "_e3",
                SP,
                r#"Destination="https://elsewhere.example.com/sso""#,
                "",
            ),
            vec!["Requester", "RequestDenied"],
        ),
        (
            authn_request(
                "_e4",
                SP,
                r#"ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact""#,
                "",
            ),
            vec!["Responder", "UnsupportedBinding"],
        ),
        (
            authn_request(
                "_e5",
                SP,
                "",
                r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos"/>"#,
            ),
            vec!["Requester", "InvalidNameIDPolicy"],
        ),
        (
            authn_request(
                "_e6",
                SP,
                "",
                r#"<samlp:RequestedAuthnContext><saml:AuthnContextClassRef>urn:example:retina-scan</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#,
            ),
            vec!["Responder", "NoAuthnContext"],
        ),
        (
            authn_request("_e7", SP, r#"ForceAuthn="maybe""#, ""),
            vec!["Requester"],
        ),
        (
            authn_request("_e8", PAYROLL, "", ""),
            vec!["Responder", "RequestDenied"],
        ),
    ];
    for (xml, want) in cases {
        let page = sso_get(&mut b, &redirect_query(&xml, Some("keep"), false)).await;
        let (action, root, _) = response_of(&k, &page).await;
        assert!(action.ends_with("/acs"), "{action}");
        assert_eq!(status_of(&root), want, "{xml}");
        assert!(root.child(NS_ASSERTION, "Assertion").is_none());
        assert_eq!(field(&form(&page).1, "RelayState"), Some("keep"));
    }
    let failures = k
        .audit_events()
        .await
        .into_iter()
        .filter(|(e, o)| e == "saml.sso" && o == "failure")
        .count();
    assert!(failures >= 7, "{failures}");
}

#[tokio::test]
async fn mfa_policy_and_requested_context_go_through_step_up_and_passive_fails() {
    let k = saml_kit().await;
    let mut b = k.signed_in().await;
    let xml = authn_request("_m1", MFA_SP, "", "");
    let page = sso_get(&mut b, &redirect_query(&xml, None, false)).await;
    assert!(
        page.location()
            .unwrap()
            .starts_with("/login/step-up?return_to=%2Fsaml%2Fsso%2Fcontinue"),
        "{:?}",
        page.location()
    );

    let xml = authn_request(
        "_m2",
        SP,
        "",
        r#"<samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>https://refeds.org/profile/mfa</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#,
    );
    let page = sso_get(&mut b, &redirect_query(&xml, None, false)).await;
    assert!(page.location().unwrap().starts_with("/login/step-up?"));

    // Passive: no interaction possible, so NoPassive at the ACS.
    let xml = authn_request("_m3", MFA_SP, r#"IsPassive="true""#, "");
    let page = sso_get(&mut b, &redirect_query(&xml, None, false)).await;
    let (_, root, _) = response_of(&k, &page).await;
    assert_eq!(status_of(&root), vec!["Responder", "NoPassive"]);
    let mut anon = k.browser();
    let xml = authn_request("_m4", SP, r#"IsPassive="true""#, "");
    let page = sso_get(&mut anon, &redirect_query(&xml, None, false)).await;
    let (_, root, _) = response_of(&k, &page).await;
    assert_eq!(status_of(&root), vec!["Responder", "NoPassive"]);

    // ForceAuthn sends a signed-in user to the password again (a sign-in
    // counts as fresh in the second of the request, hence the wait).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let xml = authn_request("_m5", SP, r#"ForceAuthn="true""#, "");
    let page = sso_get(&mut b, &redirect_query(&xml, None, false)).await;
    let to = page.location().unwrap();
    assert!(
        to.starts_with("/login?return_to=") && to.ends_with("&change=1"),
        "{to}"
    );
}

#[tokio::test]
async fn idp_initiated_from_the_portal_tile() {
    let k = saml_kit().await;
    let mut b = k.signed_in().await;
    let user = k.demo_user().await;
    let apps = k.idp.store.applications_for_user(&user.id).await.unwrap();
    let wiki = apps
        .iter()
        .find(|(a, _)| a.name == "Team Wiki")
        .unwrap()
        .0
        .id
        .clone();
    let res = b.get(&format!("/apps/{wiki}/launch")).await;
    let to = res.location().unwrap().to_string();
    assert!(to.starts_with("/saml/idp-init?sp="), "{to}");
    let page = b.get(&to).await;
    let (action, root, _) = response_of(&k, &page).await;
    assert_eq!(action, ACS);
    assert_eq!(status_of(&root), vec!["Success"]);
    assert_eq!(root.attr("InResponseTo"), None, "unsolicited");
    assert_eq!(field(&form(&page).1, "RelayState"), Some("/welcome"));

    // Not signed in: the sign-in comes first.
    let mut anon = k.browser();
    let page = anon.get(&to).await;
    assert!(
        page.location()
            .unwrap()
            .starts_with("/login?return_to=%2Fsaml%2Fidp-init")
    );
    // Unknown SP, and an SP whose application the user does not have.
    let page = b
        .get("/saml/idp-init?sp=https%3A%2F%2Fnope.example.com")
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = b
        .get(&format!(
            "/saml/idp-init?sp={}",
            url::form_urlencoded::byte_serialize(PAYROLL.as_bytes()).collect::<String>()
        ))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.body.contains("SAMLResponse"));
}

/// Signs in at SP (redirect) and returns the NameID and SessionIndex given.
async fn sso_to_sp(k: &Kit, b: &mut Browser, id: &str) -> (String, String) {
    let xml = authn_request(id, SP, "", "");
    let page = sso_get(b, &redirect_query(&xml, None, false)).await;
    let (_, root, _) = response_of(k, &page).await;
    let a = assertion(&root);
    let name_id = a
        .child(NS_ASSERTION, "Subject")
        .unwrap()
        .child(NS_ASSERTION, "NameID")
        .unwrap()
        .text
        .clone();
    let sidx = a
        .child(NS_ASSERTION, "AuthnStatement")
        .unwrap()
        .attr("SessionIndex")
        .unwrap()
        .to_string();
    (name_id, sidx)
}

fn logout_request(id: &str, name_id: &str, sidx: &str) -> String {
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="{id}" Version="2.0" IssueInstant="{}" Destination="https://portal.localhost/saml/slo"><saml:Issuer>{SP}</saml:Issuer><saml:NameID>{name_id}</saml:NameID><samlp:SessionIndex>{sidx}</samlp:SessionIndex></samlp:LogoutRequest>"#,
        instant(idp::clock::now())
    )
}

/// The SAML message inside a redirect page's link: (url, decoded XML).
fn redirect_target(page: &Page) -> (String, String, String) {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let marker = "data-saml-auto href=\"";
    let start = page.body.find(marker).expect("a link") + marker.len();
    let end = page.body[start..].find('"').unwrap() + start;
    let url = unescape(&page.body[start..end]);
    let (base, query) = url.split_once('?').unwrap_or((&url, ""));
    let msg = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "SAMLRequest" || k == "SAMLResponse")
        .map(|(_, v)| decode::redirect_message(&v, 65536).unwrap())
        .unwrap_or_default();
    (base.to_string(), query.to_string(), msg)
}

#[tokio::test]
async fn sp_initiated_logout_ends_the_portal_session() {
    let k = saml_kit().await;
    let mut b = k.signed_in().await;
    let (name_id, sidx) = sso_to_sp(&k, &mut b, "_s1").await;

    // Unsigned, from an SP with a certificate: refused, session kept.
    let page = b
        .get(&format!(
            "/saml/slo?{}",
            redirect_query(&logout_request("_l1", &name_id, &sidx), None, false)
        ))
        .await;
    let (to, _, xml) = redirect_target(&page);
    assert_eq!(to, SLO);
    assert!(
        xml.contains("RequestDenied") && xml.contains("InResponseTo=\"_l1\""),
        "{xml}"
    );
    assert_eq!(b.get("/apps").await.status, StatusCode::OK);
    // Another subject: refused, session kept.
    let page = b
        .get(&format!(
            "/saml/slo?{}",
            redirect_query(
                &logout_request("_l2", "mallory@example.com", &sidx),
                None,
                true
            )
        ))
        .await;
    assert!(redirect_target(&page).2.contains("UnknownPrincipal"));
    assert_eq!(b.get("/apps").await.status, StatusCode::OK);

    // Signed and matching: Success, the session is over, the answer is signed.
    let page = b
        .get(&format!(
            "/saml/slo?{}",
            redirect_query(&logout_request("_l3", &name_id, &sidx), Some("bye"), true)
        ))
        .await;
    let (to, query, xml) = redirect_target(&page);
    assert_eq!(to, SLO);
    assert!(
        xml.contains("status:Success") && xml.contains("InResponseTo=\"_l3\""),
        "{xml}"
    );
    let keys = k.idp.saml_keys().await.unwrap();
    idp::saml::signature::verify_redirect(&query, "SAMLResponse", &keys.signer().unwrap().cert_der)
        .unwrap();
    assert!(query.contains("RelayState=bye"));
    assert!(
        b.get("/apps")
            .await
            .location()
            .unwrap()
            .starts_with("/login")
    );

    // Unknown issuer: a page.
    let bad = logout_request("_l4", &name_id, &sidx).replace(SP, "https://evil.example.com");
    let page = b
        .get(&format!("/saml/slo?{}", redirect_query(&bad, None, false)))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn portal_logout_tells_each_sp_in_turn() {
    let k = saml_kit().await;
    let mut b = k.signed_in().await;
    let (name_id, sidx) = sso_to_sp(&k, &mut b, "_c1").await;
    let apps = b.get("/apps").await;
    assert_eq!(apps.status, StatusCode::OK);
    let res = b.post("/logout", &[]).await;
    let to = res.location().unwrap().to_string();
    assert!(to.starts_with("/saml/slo/next?chain="), "{to}");
    // The portal session is over at once.
    assert!(
        b.get("/apps")
            .await
            .location()
            .unwrap()
            .starts_with("/login")
    );

    let page = b.get(&to).await;
    let (target, query, xml) = redirect_target(&page);
    assert_eq!(target, SLO);
    let keys = k.idp.saml_keys().await.unwrap();
    idp::saml::signature::verify_redirect(&query, "SAMLRequest", &keys.signer().unwrap().cert_der)
        .unwrap();
    let req = idp::saml::wire::LogoutRequest::parse(&xml).unwrap();
    assert_eq!(req.name_id, name_id);
    assert_eq!(req.session_indexes, vec![sidx]);
    let chain: String = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "RelayState")
        .unwrap()
        .1
        .into_owned();

    // An answer to something we never asked: a page.
    let answer = |irt: &str| {
        format!(
            r#"<samlp:LogoutResponse xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="_a{irt}" Version="2.0" IssueInstant="{}" InResponseTo="{irt}"><saml:Issuer>{SP}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#,
            instant(idp::clock::now())
        )
    };
    let resp_query = |xml: &str, sign: bool| {
        redirect_query(xml, Some(&chain), sign).replacen("SAMLRequest=", "SAMLResponse=", 1)
    };
    let page = b
        .get(&format!(
            "/saml/slo?{}",
            resp_query(&answer("_nope"), false)
        ))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    // The SP's answer (signed over the SAMLResponse parameter) ends the chain.
    let xml = answer(&req.id);
    let url =
        idp::saml::binding::redirect_url("x", "SAMLResponse", &xml, Some(&chain), &sp_key().0)
            .unwrap();
    let page = b
        .get(&format!("/saml/slo?{}", url.split_once('?').unwrap().1))
        .await;
    let (target, query, _) = redirect_target(&page);
    assert_eq!(
        (target.as_str(), query.as_str()),
        ("/login", "signed_out=1")
    );
}

#[tokio::test]
async fn sp_registry_from_metadata_and_store() {
    let k = saml_kit().await;
    let cert_b64: String = sp_key()
        .1
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let md = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://new.example.com/sp"><md:SPSSODescriptor AuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://new.example.com/slo"/><md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://new.example.com/acs" index="0" isDefault="true"/></md:SPSSODescriptor></md:EntityDescriptor>"#
    );
    let sp = idp::saml::sps::from_metadata(&md, "Team Wiki").unwrap();
    assert!(sp.require_signed_requests);
    assert_eq!(sp.slo_url.as_deref(), Some("https://new.example.com/slo"));
    assert_eq!(
        sp.name_id_format_urn(),
        idp::saml::config::NAMEID_PERSISTENT
    );
    idp::admin::saml::register(&k.idp, &support::admin_actor(), &sp)
        .await
        .unwrap();
    assert!(
        idp::admin::saml::register(&k.idp, &support::admin_actor(), &sp)
            .await
            .is_err(),
        "twice"
    );
    assert!(
        k.idp
            .saml_sp("https://new.example.com/sp")
            .await
            .unwrap()
            .is_some()
    );
    let mut wrong_app = sp.clone();
    wrong_app.entity_id = "https://other.example.com/sp".into();
    wrong_app.application = "Nope".into();
    assert!(
        idp::admin::saml::register(&k.idp, &support::admin_actor(), &wrong_app)
            .await
            .is_err()
    );
    // Metadata with a DTD, or without an HTTP-POST ACS, is refused.
    assert!(idp::saml::sps::from_metadata(&format!("<!DOCTYPE x []>{md}"), "Team Wiki").is_err());
    assert!(
        idp::saml::sps::from_metadata(&md.replace("HTTP-POST", "HTTP-Artifact"), "Team Wiki")
            .is_err()
    );
    // The stored SP works: a signed request is answered.
    let mut b = k.signed_in().await;
    let xml = authn_request("_n1", "https://new.example.com/sp", "", "");
    let page = sso_get(&mut b, &redirect_query(&xml, None, true)).await;
    let (action, root, _) = response_of(&k, &page).await;
    assert_eq!(action, "https://new.example.com/acs");
    assert_eq!(status_of(&root), vec!["Success"]);
    assert!(
        k.idp
            .store
            .remove_saml_sp("https://new.example.com/sp", 0)
            .await
            .unwrap()
    );
}

fn oath(secret: &str, at: i64) -> String {
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", secret, "-N", &format!("@{at}")])
        .output()
        .expect("oathtool is installed (scripts/install-deps.sh test)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn step_up_for_an_mfa_sp_then_the_context_says_mfa_and_logout_still_reaches_the_first_sp() {
    let k = saml_kit().await;
    let mut b = k.signed_in().await;
    // TOTP enrolment.
    b.get("/mfa/totp/setup").await;
    b.post("/mfa/totp/setup", &[]).await;
    let scan = b.get("/mfa/totp/setup/scan").await;
    let marker = "<code id=\"totp-key\">";
    let start = scan.body.find(marker).unwrap() + marker.len();
    let key = scan.body[start..start + scan.body[start..].find("</code>").unwrap()].to_string();
    b.get("/mfa/totp/setup/confirm").await;
    let done = b
        .post(
            "/mfa/totp/setup/confirm",
            &[("code", &oath(&key, idp::clock::now()))],
        )
        .await;
    assert_eq!(done.location(), Some("/security?done=totp-on#mfa"));

    // A password-only assertion to the first SP.
    sso_to_sp(&k, &mut b, "_t1").await;
    // The MFA SP: step-up with TOTP, then back to the continuation.
    let xml = authn_request("_t2", MFA_SP, "", "");
    let step_up = sso_get(&mut b, &redirect_query(&xml, None, false))
        .await
        .location()
        .unwrap()
        .to_string();
    assert_eq!(b.get(&step_up).await.location(), Some("/login/mfa"));
    b.get("/login/mfa/totp").await;
    let done = b
        .post(
            "/login/mfa/totp",
            &[("code", &oath(&key, idp::clock::now() + 30))],
        )
        .await;
    let back = done.location().unwrap().to_string();
    assert!(back.starts_with("/saml/sso/continue?r="), "{back}");
    let page = b.get(&back).await;
    let (action, root, raw) = response_of(&k, &page).await;
    assert_eq!(action, "https://mfa.example.com/acs");
    assert_eq!(status_of(&root), vec!["Success"]);
    assert!(raw.contains(
        "<saml:AuthnContextClassRef>https://refeds.org/profile/mfa</saml:AuthnContextClassRef>"
    ));
    // A persistent NameID: pairwise and stable, not the email.
    let name_id = &assertion(&root)
        .child(NS_ASSERTION, "Subject")
        .unwrap()
        .child(NS_ASSERTION, "NameID")
        .unwrap()
        .text;
    assert!(!name_id.contains('@') && name_id.len() > 20, "{name_id}");

    // Portal logout: the first SP (signed in before the step-up replaced the
    // session id) is told; the MFA SP has no logout URL and is skipped.
    assert_eq!(b.get("/apps").await.status, StatusCode::OK);
    let res = b.post("/logout", &[]).await;
    let next = res.location().unwrap().to_string();
    assert!(next.starts_with("/saml/slo/next?chain="), "{next}");
    let (target, _, xml) = redirect_target(&b.get(&next).await);
    assert_eq!(target, SLO);
    assert!(xml.contains("LogoutRequest"));
}
