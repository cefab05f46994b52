//! The SAML engine called directly, without the router: each sign-in and
//! logout step over a real core and store, with the session given as the
//! one session check (`Idp::resume`) sees it. Every outcome is checked as
//! the SP or the user would meet it: the Response's status code and
//! destination (parsed from the signed XML), the page's kind, where the
//! browser is sent.

mod support;

use std::sync::OnceLock;

use base64::Engine;
use idp::directory::LockReason;
use idp::saml::binding::{self, BindingParams, Delivery};
use idp::saml::config::{NAMEID_EMAIL, NAMEID_PERSISTENT};
use idp::saml::decode::{self, Element};
use idp::saml::slo::{LogoutAnswer, Slo};
use idp::saml::sso::{AcsPost, Answer, Pending, Problem, ProblemKind, Sso, Step};
use idp::saml::wire::{self, NS_ASSERTION, NS_DSIG, NS_PROTOCOL, instant};
use idp::session::{Live, Presented, Refusal};
use openssl::pkey::{PKey, Private};
use serde_json::json;
use support::{Kit, kit_with};

const SP: &str = "https://sp.example.com/metadata";
const ACS: &str = "https://sp.example.com/acs";
const ACS2: &str = "https://sp.example.com/acs2";
const SLO: &str = "https://sp.example.com/slo";
const SIGNED: &str = "https://signed.example.com/metadata";
const SIGNED_ACS: &str = "https://signed.example.com/acs";
const SIGNED_SLO: &str = "https://signed.example.com/slo";
const MFA_SP: &str = "https://mfa.example.com/metadata";
const MFA_ACS: &str = "https://mfa.example.com/acs";
const PAYROLL: &str = "https://payroll.example.com/metadata";
const PAYROLL_ACS: &str = "https://payroll.example.com/acs";
const HOUR: i64 = 3600;

// ---------------------------------------------------------------- the kit

/// The SP's key pair: (private key, certificate PEM, PKCS#1 DER).
fn sp_key() -> &'static (PKey<Private>, String, Vec<u8>) {
    static KEY: OnceLock<(PKey<Private>, String, Vec<u8>)> = OnceLock::new();
    KEY.get_or_init(|| {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let der = rsa.private_key_to_der().unwrap();
        let key = PKey::from_rsa(rsa).unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "sp").unwrap();
        let name = name.build();
        let mut b = openssl::x509::X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        b.sign(&key, openssl::hash::MessageDigest::sha256())
            .unwrap();
        let pem = String::from_utf8(b.build().to_pem().unwrap()).unwrap();
        (key, pem, der)
    })
}

fn cert_b64() -> String {
    sp_key()
        .1
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

async fn engine_kit() -> Kit {
    let cert = sp_key().1.clone();
    let sp = |v: serde_json::Value| serde_json::from_value(v).unwrap();
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
                "slo_url": SIGNED_SLO,
                "slo_binding": "HTTP-POST",
                "certificate": cert,
                "require_signed_requests": true,
                "application": "Team Wiki",
                "sign": "assertion",
            })),
            sp(json!({
                "entity_id": MFA_SP,
                "acs": [{"url": MFA_ACS}],
                "application": "Team Wiki",
                "require_mfa": true,
                "name_id_format": "persistent",
            })),
            sp(json!({
                "entity_id": PAYROLL,
                "acs": [{"url": PAYROLL_ACS}],
                "application": "Payroll",
            })),
        ];
    })
    .await;
    // The password was set long before any session of the suite began.
    let user = k.demo_user().await;
    k.idp
        .store
        .set_password_changed_at(&user.id, now() - 20 * HOUR)
        .await
        .unwrap();
    k.unassigned_application("Payroll").await;
    k
}

fn now() -> i64 {
    idp::clock::now()
}

/// A portal session of the demo user: (cookie value, what the one session
/// check makes of it now).
async fn session_with(
    k: &Kit,
    amr: &[&str],
    auth_time: i64,
    mfa_at: Option<i64>,
) -> (String, Result<Live, Refusal>) {
    let user = k.demo_user().await;
    let amr = amr.iter().map(|s| s.to_string()).collect();
    let (token, _) = k
        .idp
        .sessions
        .create_with(&user.id, amr, None, auth_time, mfa_at, now())
        .await
        .unwrap();
    let live = resume(k, &token).await;
    (token, live)
}

/// A password session that began a minute ago.
async fn password_session(k: &Kit) -> (String, Result<Live, Refusal>) {
    session_with(k, &["pwd"], now() - 60, None).await
}

async fn resume(k: &Kit, token: &str) -> Result<Live, Refusal> {
    k.idp.resume(Presented::Token(token), now()).await.unwrap()
}

fn authn_request(id: &str, issuer: &str, attrs: &str, inner: &str) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="{id}" Version="2.0" IssueInstant="{}" {attrs}><saml:Issuer>{issuer}</saml:Issuer>{inner}</samlp:AuthnRequest>"#,
        instant(now())
    )
}

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The parameters of an HTTP-Redirect message carrying `xml` in `field`,
/// signed by the SP key when asked (`key` to sign with another one).
fn redirect_params(
    xml: &str,
    field: &str,
    relay: Option<&str>,
    sign: bool,
    key: &PKey<Private>,
) -> BindingParams {
    let url = binding::redirect_url("x", field, xml, relay, key).unwrap();
    let q = url.split_once('?').unwrap().1.to_string();
    let q = if sign {
        q
    } else {
        q.split("&SigAlg=").next().unwrap().to_string()
    };
    binding::params(q.as_bytes(), field, true).unwrap()
}

fn redirect(xml: &str, relay: Option<&str>, sign: bool) -> BindingParams {
    redirect_params(xml, "SAMLRequest", relay, sign, &sp_key().0)
}

/// The parameters of an HTTP-POST message.
fn post(xml: &str, relay: Option<&str>) -> BindingParams {
    BindingParams {
        message: Some(b64(xml.as_bytes())),
        relay_state: relay.map(str::to_string),
        redirect_query: None,
    }
}

/// An enveloped signature by the SP key over the root (ID `id`).
fn sign_post(xml: &str, id: &str) -> String {
    let tpl = idp::saml::signature::template(id, &cert_b64());
    let xml = xml.replacen("</saml:Issuer>", &format!("</saml:Issuer>{tpl}"), 1);
    idp::saml::signature::sign_enveloped(&xml, &sp_key().2).unwrap()
}

// ------------------------------------------------------- reading outcomes

/// The pending sign-in of a first step; panics on any other outcome.
fn pending(step: Step) -> Box<Pending> {
    match step {
        Step::Answer(p) => p,
        Step::Done(sso) => panic!("expected a pending sign-in, got {sso:?}"),
    }
}

/// The outcome of a first step that is final already.
fn done(step: Step) -> Sso {
    match step {
        Step::Done(sso) => sso,
        Step::Answer(p) => panic!("expected an outcome, got a pending sign-in {p:?}"),
    }
}

fn page(sso: Sso) -> Problem {
    match sso {
        Sso::Page(p) => p,
        other => panic!("expected a page, got {other:?}"),
    }
}

fn acs_post(sso: Sso) -> AcsPost {
    match sso {
        Sso::Post(p) => p,
        other => panic!("expected a Response to an ACS, got {other:?}"),
    }
}

/// What the SP reads in a posted Response: the form's action, the decoded
/// Response (its IdP signature checked) and its status codes.
struct Seen {
    action: String,
    relay_state: Option<String>,
    root: Element,
    statuses: Vec<String>,
}

impl Seen {
    fn assertion(&self) -> Option<&Element> {
        self.root.child(NS_ASSERTION, "Assertion")
    }

    fn name_id(&self) -> String {
        self.assertion()
            .and_then(|a| a.child(NS_ASSERTION, "Subject"))
            .and_then(|s| s.child(NS_ASSERTION, "NameID"))
            .map(|n| n.text.clone())
            .expect("a NameID")
    }

    fn audience(&self) -> String {
        self.assertion()
            .and_then(|a| a.child(NS_ASSERTION, "Conditions"))
            .and_then(|c| c.child(NS_ASSERTION, "AudienceRestriction"))
            .and_then(|r| r.child(NS_ASSERTION, "Audience"))
            .map(|a| a.text.clone())
            .expect("an Audience")
    }
}

/// Opens the delivery of a Response as an SP does.
async fn seen(k: &Kit, post: &AcsPost) -> Seen {
    let Delivery::Post { action, fields } = post.delivery() else {
        panic!("a Response goes over HTTP-POST");
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(field("SAMLResponse").expect("SAMLResponse"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(xml, post.xml, "the form carries the Response");
    let root = decode::parse(&xml).unwrap();
    assert!(root.is(NS_PROTOCOL, "Response"));
    let keys = k.idp.saml_keys().await.unwrap();
    let cert = &keys.signer().unwrap().cert_der;
    if root.child(NS_DSIG, "Signature").is_some()
        || root
            .child(NS_ASSERTION, "Assertion")
            .is_some_and(|a| a.child(NS_DSIG, "Signature").is_some())
    {
        idp::saml::signature::verify_enveloped(&xml, cert).expect("the IdP's signature");
    }
    let mut statuses = Vec::new();
    let mut code = root
        .child(NS_PROTOCOL, "Status")
        .and_then(|s| s.child(NS_PROTOCOL, "StatusCode"));
    while let Some(c) = code {
        statuses.push(c.attr("Value").unwrap_or("").to_string());
        code = c.child(NS_PROTOCOL, "StatusCode");
    }
    Seen {
        action,
        relay_state: field("RelayState"),
        root,
        statuses,
    }
}

/// A Response with an error status and no assertion: the statuses seen.
async fn refused_at(k: &Kit, sso: Sso, acs: &str) -> Vec<String> {
    let post = acs_post(sso);
    let Answer::Status(status) = &post.answer else {
        panic!("expected an error status, got {:?}", post.answer);
    };
    let s = seen(k, &post).await;
    assert_eq!(s.action, acs, "posted to the ACS that asked");
    assert!(s.assertion().is_none(), "no assertion with an error");
    assert_eq!(
        s.statuses[0], status.code,
        "the XML says what the engine says"
    );
    assert_ne!(s.statuses[0], wire::STATUS_SUCCESS);
    s.statuses
}

async fn audit(k: &Kit, event: &str, outcome: &str) -> usize {
    k.audit_events()
        .await
        .iter()
        .filter(|(e, o)| e == event && o == outcome)
        .count()
}

/// The handle in a continuation URL.
fn handle_of(cont: &str) -> String {
    let q = cont
        .strip_prefix(idp::paths::SAML_CONTINUE)
        .and_then(|r| r.strip_prefix('?'))
        .expect("the continuation URL");
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "r")
        .unwrap()
        .1
        .into_owned()
}

// -------------------------------------------------------------- sign-in

#[tokio::test]
async fn a_signed_in_user_gets_an_assertion_for_the_sp_that_asked() {
    let k = engine_kit().await;
    let user = k.demo_user().await;
    let (token, live) = password_session(&k).await;
    let xml = authn_request(
        "_ok1",
        SP,
        &format!(
            r#"AssertionConsumerServiceURL="{ACS}" Destination="https://portal.localhost/saml/sso""#
        ),
        "",
    );
    let p = pending(
        k.idp
            .saml_sso_receive(
                &redirect(&xml, Some("rs-1"), true),
                Some("192.0.2.1"),
                now(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(p.sp().entity_id, SP);
    assert_eq!(p.acs_url(), ACS);
    assert_eq!(p.in_response_to(), Some("_ok1"));
    let post = acs_post(
        k.idp
            .saml_sso_answer(&p, live, Some("192.0.2.1"), now())
            .await
            .unwrap(),
    );
    let Answer::Assertion(facts) = &post.answer else {
        panic!("expected an assertion, got {:?}", post.answer);
    };
    assert_eq!(facts.audience, SP);
    assert_eq!(facts.acs_url, ACS);
    assert_eq!(facts.in_response_to.as_deref(), Some("_ok1"));
    assert_eq!(facts.name_id_format, NAMEID_EMAIL);
    assert_eq!(facts.name_id, user.email);
    let attr = |name: &str| {
        facts
            .attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.values.clone())
    };
    assert_eq!(attr("mail"), Some(vec![user.email.clone()]));
    assert_eq!(attr("givenName"), Some(vec![user.first_name.clone()]));
    assert_eq!(
        facts.authn_context,
        k.idp.config.saml.authn_context_password
    );

    // What the SP reads agrees.
    let s = seen(&k, &post).await;
    assert_eq!(s.action, ACS);
    assert_eq!(s.relay_state.as_deref(), Some("rs-1"));
    assert_eq!(s.statuses, vec![wire::STATUS_SUCCESS]);
    assert_eq!(s.root.attr("InResponseTo"), Some("_ok1"));
    assert_eq!(s.root.attr("Destination"), Some(ACS));
    assert_eq!(s.audience(), SP);
    assert_eq!(s.name_id(), user.email);
    assert_eq!(audit(&k, "saml.sso", "success").await, 1);
    // The SAML session is recorded for a later logout.
    let key = idp::session::SessionKey::of_token(&token);
    let rows = k.idp.store.saml_sessions_of(key.as_str()).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].sp_entity_id, SP);
    assert_eq!(rows[0].name_id, facts.name_id);
    assert_eq!(rows[0].session_index, facts.session_index);

    // The same Pending answered twice: one answer per request.
    let (_, live) = password_session(&k).await;
    let again = k.idp.saml_sso_answer(&p, live, None, now()).await.unwrap();
    assert!(page(again).message.contains("already answered"));
}

#[tokio::test]
async fn an_acs_by_index_and_the_default_acs() {
    let k = engine_kit().await;
    for (id, attrs, acs) in [
        ("_ix1", r#"AssertionConsumerServiceIndex="1""#, ACS2),
        ("_ix2", "", ACS),
    ] {
        let xml = authn_request(id, SP, attrs, "");
        let p = pending(
            k.idp
                .saml_sso_receive(&redirect(&xml, None, false), None, now())
                .await
                .unwrap(),
        );
        assert_eq!(p.acs_url(), acs);
        let (_, live) = password_session(&k).await;
        let post = acs_post(k.idp.saml_sso_answer(&p, live, None, now()).await.unwrap());
        assert_eq!(seen(&k, &post).await.action, acs);
    }
}

#[tokio::test]
async fn an_unknown_sp_or_an_unregistered_acs_gets_a_page_never_a_post() {
    let k = engine_kit().await;
    let xml = authn_request("_u1", "https://evil.example.com/sp", "", "");
    let p = page(done(
        k.idp
            .saml_sso_receive(&redirect(&xml, None, false), None, now())
            .await
            .unwrap(),
    ));
    assert_eq!(p.kind, ProblemKind::Invalid);
    assert!(p.message.contains("not registered"), "{}", p.message);
    assert_eq!(audit(&k, "saml.sso", "failure").await, 1);

    for (id, attrs) in [
        (
            "_u2",
            r#"AssertionConsumerServiceURL="https://evil.example.com/acs""#.to_string(),
        ),
        // A prefix of a registered ACS is not that ACS.
        ("_u3", format!(r#"AssertionConsumerServiceURL="{ACS}/x""#)),
        ("_u4", r#"AssertionConsumerServiceIndex="7""#.to_string()),
    ] {
        let xml = authn_request(id, SP, &attrs, "");
        let p = page(done(
            k.idp
                .saml_sso_receive(&redirect(&xml, None, false), None, now())
                .await
                .unwrap(),
        ));
        assert_eq!(p.kind, ProblemKind::Invalid, "{id}");
        assert!(p.message.contains("not registered"), "{id}: {}", p.message);
    }
    assert_eq!(audit(&k, "saml.sso", "failure").await, 4);

    // No Issuer at all.
    let xml =
        authn_request("_u5", SP, "", "").replace(&format!("<saml:Issuer>{SP}</saml:Issuer>"), "");
    let p = page(done(
        k.idp
            .saml_sso_receive(&redirect(&xml, None, false), None, now())
            .await
            .unwrap(),
    ));
    assert!(p.message.contains("Issuer"), "{}", p.message);
}

#[tokio::test]
async fn messages_that_cannot_be_read_get_a_page() {
    let k = engine_kit().await;
    let max = k.idp.config.saml.max_message_bytes;
    let xxe = format!(
        r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>{}"#,
        authn_request("_x", SP, "", "")
    );
    let big = authn_request("_big", SP, "", &"<!-- padding -->".repeat(max / 8));
    for (p, kind, text) in [
        (
            BindingParams::default(),
            ProblemKind::Invalid,
            "no SAMLRequest",
        ),
        (
            post("<samlp:AuthnRequest", None),
            ProblemKind::Invalid,
            "well-formed",
        ),
        (post(&xxe, None), ProblemKind::Invalid, "DTD"),
        (redirect(&xxe, None, false), ProblemKind::Invalid, "DTD"),
        (redirect(&big, None, false), ProblemKind::TooLarge, "larger"),
        (
            BindingParams {
                message: Some("!!notbase64!!".into()),
                ..Default::default()
            },
            ProblemKind::Invalid,
            "base64",
        ),
    ] {
        let problem = page(done(k.idp.saml_sso_receive(&p, None, now()).await.unwrap()));
        assert_eq!(problem.kind, kind, "{text}: {}", problem.message);
        assert!(
            problem.message.contains(text),
            "{text}: {}",
            problem.message
        );
    }
    // The binding's own parameters.
    assert!(binding::params(b"SAMLRequest=a&SAMLRequest=b", "SAMLRequest", true).is_err());
    let long = format!("SAMLRequest=a&RelayState={}", "r".repeat(2000));
    assert!(binding::params(long.as_bytes(), "SAMLRequest", true).is_err());
}

#[tokio::test]
async fn bad_requests_from_a_known_sp_get_a_saml_status_at_its_acs() {
    let k = engine_kit().await;
    let expired = authn_request("_e1", SP, "", "").replacen(
        &format!("IssueInstant=\"{}\"", instant(now())),
        &format!("IssueInstant=\"{}\"", instant(now() - HOUR)),
        1,
    );
    let cases = [
        (
            expired,
            vec![wire::STATUS_REQUESTER, wire::STATUS_REQUEST_DENIED],
        ),
        (
            authn_request("_e2", SP, "", "").replace("Version=\"2.0\"", "Version=\"3.0\""),
            vec![wire::STATUS_VERSION_MISMATCH],
        ),
        (
            authn_request(
                "_e3",
                SP,
                r#"Destination="https://elsewhere.example.com/sso""#,
                "",
            ),
            vec![wire::STATUS_REQUESTER, wire::STATUS_REQUEST_DENIED],
        ),
        (
            authn_request(
                "_e4",
                SP,
                r#"ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact""#,
                "",
            ),
            vec![
                wire::STATUS_RESPONDER,
                "urn:oasis:names:tc:SAML:2.0:status:UnsupportedBinding",
            ],
        ),
        (
            authn_request(
                "_e5",
                SP,
                "",
                r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos"/>"#,
            ),
            vec![wire::STATUS_REQUESTER, wire::STATUS_INVALID_NAMEID_POLICY],
        ),
        (
            authn_request(
                "_e6",
                SP,
                "",
                r#"<samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>urn:example:retina</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#,
            ),
            vec![wire::STATUS_RESPONDER, wire::STATUS_NO_AUTHN_CONTEXT],
        ),
    ];
    for (xml, want) in cases {
        let sso = done(
            k.idp
                .saml_sso_receive(&redirect(&xml, Some("rs"), false), None, now())
                .await
                .unwrap(),
        );
        let post = acs_post(sso);
        let s = seen(&k, &post).await;
        assert_eq!(s.action, ACS, "{xml:.80}");
        assert_eq!(s.statuses, want, "{xml:.80}");
        assert!(s.assertion().is_none());
        assert_eq!(
            s.relay_state.as_deref(),
            Some("rs"),
            "RelayState comes back"
        );
        let id = decode::parse(&xml).unwrap().attr("ID").unwrap().to_string();
        assert_eq!(s.root.attr("InResponseTo"), Some(id.as_str()));
    }
}

#[tokio::test]
async fn a_replayed_request_id_is_denied_at_the_acs() {
    let k = engine_kit().await;
    let xml = authn_request("_rp", SP, "", "");
    pending(
        k.idp
            .saml_sso_receive(&redirect(&xml, None, false), None, now())
            .await
            .unwrap(),
    );
    let sso = done(
        k.idp
            .saml_sso_receive(&redirect(&xml, None, false), None, now())
            .await
            .unwrap(),
    );
    let statuses = refused_at(&k, sso, ACS).await;
    assert_eq!(
        statuses,
        vec![wire::STATUS_REQUESTER, wire::STATUS_REQUEST_DENIED]
    );
    assert_eq!(audit(&k, "saml.sso", "failure").await, 1);
}

#[tokio::test]
async fn an_sp_that_requires_signed_requests() {
    let k = engine_kit().await;
    let (token, _) = password_session(&k).await;
    // Unsigned: denied at its ACS, and nothing recorded.
    let xml = authn_request("_s1", SIGNED, "", "");
    let sso = done(
        k.idp
            .saml_sso_receive(&post(&xml, None), None, now())
            .await
            .unwrap(),
    );
    assert_eq!(
        refused_at(&k, sso, SIGNED_ACS).await,
        vec![wire::STATUS_REQUESTER, wire::STATUS_REQUEST_DENIED]
    );
    // Signed and then changed; signed by another key over redirect.
    let tampered = sign_post(&authn_request("_s2", SIGNED, "", ""), "_s2")
        .replace("Version=\"2.0\"", "Version=\"2.0\" ForceAuthn=\"false\"");
    let other = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let by_other = redirect_params(
        &authn_request("_s3", SIGNED, "", ""),
        "SAMLRequest",
        None,
        true,
        &other,
    );
    for p in [post(&tampered, None), by_other] {
        let sso = done(k.idp.saml_sso_receive(&p, None, now()).await.unwrap());
        assert_eq!(
            refused_at(&k, sso, SIGNED_ACS).await,
            vec![wire::STATUS_REQUESTER, wire::STATUS_REQUEST_DENIED]
        );
    }
    // Correctly signed, over either binding: an assertion, signed on the
    // assertion only (sign = "assertion").
    for (id, p) in [
        (
            "_s4",
            post(
                &sign_post(&authn_request("_s4", SIGNED, "", ""), "_s4"),
                Some("x"),
            ),
        ),
        (
            "_s5",
            redirect(&authn_request("_s5", SIGNED, "", ""), None, true),
        ),
    ] {
        let pend = pending(k.idp.saml_sso_receive(&p, None, now()).await.unwrap());
        let live = resume(&k, &token).await;
        let post = acs_post(
            k.idp
                .saml_sso_answer(&pend, live, None, now())
                .await
                .unwrap(),
        );
        let s = seen(&k, &post).await;
        assert_eq!(s.action, SIGNED_ACS);
        assert_eq!(s.statuses, vec![wire::STATUS_SUCCESS]);
        assert_eq!(s.root.attr("InResponseTo"), Some(id));
        assert!(s.root.child(NS_DSIG, "Signature").is_none());
        assert!(s.assertion().unwrap().child(NS_DSIG, "Signature").is_some());
    }
}

#[tokio::test]
async fn without_a_session_the_user_signs_in_and_the_request_continues() {
    let k = engine_kit().await;
    let xml = authn_request("_c1", SP, "", "");
    let p = pending(
        k.idp
            .saml_sso_receive(&redirect(&xml, Some("rs"), false), None, now())
            .await
            .unwrap(),
    );
    let sso = k
        .idp
        .saml_sso_answer(&p, Err(Refusal::Unknown), None, now())
        .await
        .unwrap();
    let Sso::SignIn { cont, again } = sso else {
        panic!("expected the sign-in, got {sso:?}");
    };
    assert!(!again);
    assert_eq!(cont, p.cont());
    // Signed in, the browser comes back to the continuation.
    let back = pending(
        k.idp
            .saml_sso_continue(Some(&handle_of(&cont)), now())
            .await
            .unwrap(),
    );
    assert_eq!(back.in_response_to(), Some("_c1"));
    assert_eq!(back.acs_url(), ACS);
    let (_, live) = password_session(&k).await;
    let post = acs_post(
        k.idp
            .saml_sso_answer(&back, live, None, now())
            .await
            .unwrap(),
    );
    let s = seen(&k, &post).await;
    assert_eq!(s.statuses, vec![wire::STATUS_SUCCESS]);
    assert_eq!(s.root.attr("InResponseTo"), Some("_c1"));
    assert_eq!(s.relay_state.as_deref(), Some("rs"));
    // Answered: the continuation is spent.
    let again = page(done(
        k.idp
            .saml_sso_continue(Some(&handle_of(&cont)), now())
            .await
            .unwrap(),
    ));
    assert!(
        again.message.contains("already answered"),
        "{}",
        again.message
    );
    // No handle, an unknown one, or one too long.
    for handle in [None, Some("nope"), Some(&*"r".repeat(200))] {
        let p = page(done(k.idp.saml_sso_continue(handle, now()).await.unwrap()));
        assert_eq!(p.kind, ProblemKind::Invalid, "{handle:?}");
    }
}

#[tokio::test]
async fn is_passive_without_a_session_answers_no_passive() {
    let k = engine_kit().await;
    let xml = authn_request("_np", SP, r#"IsPassive="true""#, "");
    let p = pending(
        k.idp
            .saml_sso_receive(&redirect(&xml, None, false), None, now())
            .await
            .unwrap(),
    );
    let sso = k
        .idp
        .saml_sso_answer(&p, Err(Refusal::Unknown), None, now())
        .await
        .unwrap();
    assert_eq!(
        refused_at(&k, sso, ACS).await,
        vec![wire::STATUS_RESPONDER, wire::STATUS_NO_PASSIVE]
    );
    // The request is spent.
    let cont = handle_of(p.cont());
    assert!(matches!(
        k.idp.saml_sso_continue(Some(&cont), now()).await.unwrap(),
        Step::Done(Sso::Page(_))
    ));
}

#[tokio::test]
async fn force_authn_wants_a_sign_in_after_the_request() {
    let k = engine_kit().await;
    let xml = authn_request("_f1", SP, r#"ForceAuthn="true""#, "");
    let p = pending(
        k.idp
            .saml_sso_receive(&redirect(&xml, None, false), None, now())
            .await
            .unwrap(),
    );
    // Signed in a minute before the request: the password again.
    let (_, live) = password_session(&k).await;
    let sso = k.idp.saml_sso_answer(&p, live, None, now()).await.unwrap();
    let Sso::SignIn { cont, again } = sso else {
        panic!("expected the sign-in, got {sso:?}");
    };
    assert!(again, "a fresh sign-in though signed in");
    assert_eq!(cont, p.cont());
    // Signed in after it: answered.
    let (_, live) = session_with(&k, &["pwd"], now() + 1, None).await;
    let post = acs_post(
        k.idp
            .saml_sso_answer(&p, live, None, now() + 1)
            .await
            .unwrap(),
    );
    assert_eq!(seen(&k, &post).await.statuses, vec![wire::STATUS_SUCCESS]);

    // ForceAuthn and IsPassive: the user would have to interact.
    let xml = authn_request("_f2", SP, r#"ForceAuthn="true" IsPassive="true""#, "");
    let p = pending(
        k.idp
            .saml_sso_receive(&redirect(&xml, None, false), None, now())
            .await
            .unwrap(),
    );
    let (_, live) = password_session(&k).await;
    let sso = k.idp.saml_sso_answer(&p, live, None, now()).await.unwrap();
    assert_eq!(
        refused_at(&k, sso, ACS).await,
        vec![wire::STATUS_RESPONDER, wire::STATUS_NO_PASSIVE]
    );
}

#[tokio::test]
async fn an_mfa_sp_steps_a_password_session_up_and_gets_a_pairwise_name_id() {
    let k = engine_kit().await;
    let user = k.demo_user().await;
    let xml = authn_request("_m1", MFA_SP, "", "");
    let p = pending(
        k.idp
            .saml_sso_receive(&redirect(&xml, None, false), None, now())
            .await
            .unwrap(),
    );
    let (_, live) = password_session(&k).await;
    let sso = k.idp.saml_sso_answer(&p, live, None, now()).await.unwrap();
    let Sso::StepUp { cont } = sso else {
        panic!("expected the step-up, got {sso:?}");
    };
    assert_eq!(cont, p.cont());
    // After a second factor.
    let (_, live) = session_with(&k, &["pwd", "otp"], now() - 60, Some(now())).await;
    let post = acs_post(k.idp.saml_sso_answer(&p, live, None, now()).await.unwrap());
    let Answer::Assertion(facts) = &post.answer else {
        panic!("expected an assertion, got {:?}", post.answer);
    };
    assert_eq!(facts.authn_context, k.idp.config.saml.authn_context_mfa);
    assert_eq!(facts.name_id_format, NAMEID_PERSISTENT);
    let s = seen(&k, &post).await;
    assert_eq!(s.action, MFA_ACS);
    let first = s.name_id();
    assert_ne!(first, user.email, "pairwise, not the email");
    assert!(!first.contains(&user.id));
    // Stable: the same for the next sign-in.
    let xml = authn_request("_m2", MFA_SP, "", "");
    let p = pending(
        k.idp
            .saml_sso_receive(&redirect(&xml, None, false), None, now())
            .await
            .unwrap(),
    );
    let (_, live) = session_with(&k, &["pwd", "otp"], now() - 60, Some(now())).await;
    let post = acs_post(k.idp.saml_sso_answer(&p, live, None, now()).await.unwrap());
    assert_eq!(seen(&k, &post).await.name_id(), first);

    // A request asking for MFA from a plain SP steps up too; passive, it
    // cannot.
    let mfa_ctx = r#"<samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>https://refeds.org/profile/mfa</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#;
    for (id, attrs) in [("_m3", ""), ("_m4", r#"IsPassive="true""#)] {
        let xml = authn_request(id, SP, attrs, mfa_ctx);
        let p = pending(
            k.idp
                .saml_sso_receive(&redirect(&xml, None, false), None, now())
                .await
                .unwrap(),
        );
        let (_, live) = password_session(&k).await;
        let sso = k.idp.saml_sso_answer(&p, live, None, now()).await.unwrap();
        if attrs.is_empty() {
            assert!(matches!(sso, Sso::StepUp { .. }), "{sso:?}");
        } else {
            assert_eq!(
                refused_at(&k, sso, ACS).await,
                vec![wire::STATUS_RESPONDER, wire::STATUS_NO_PASSIVE]
            );
        }
    }
}

#[tokio::test]
async fn a_locked_account_or_a_passkey_session_due_gets_no_assertion() {
    let k = engine_kit().await;
    let user = k.demo_user().await;
    let (token, _) = password_session(&k).await;
    // A passkey-only session past re-verification.
    let (_, due) = session_with(&k, &["hwk"], now() - 13 * HOUR, Some(now() - 13 * HOUR)).await;
    assert_eq!(due.as_ref().err(), Some(&Refusal::PasskeyReverify));
    let xml = authn_request("_l1", SP, "", "");
    let p = pending(
        k.idp
            .saml_sso_receive(&redirect(&xml, None, false), None, now())
            .await
            .unwrap(),
    );
    let sso = k.idp.saml_sso_answer(&p, due, None, now()).await.unwrap();
    let Sso::Reverify { cont } = sso else {
        panic!("expected the re-verification, got {sso:?}");
    };
    assert_eq!(cont, p.cont());

    // Locked by an administrator: the session check refuses it, and the
    // sign-in is asked for.
    k.idp
        .store
        .lock_user(&user.id, LockReason::Admin)
        .await
        .unwrap();
    let locked = resume(&k, &token).await;
    assert_eq!(locked.as_ref().err(), Some(&Refusal::Locked));
    let sso = k
        .idp
        .saml_sso_answer(&p, locked, None, now())
        .await
        .unwrap();
    assert!(matches!(sso, Sso::SignIn { again: false, .. }), "{sso:?}");
    assert_eq!(audit(&k, "saml.sso", "success").await, 0);
}

#[tokio::test]
async fn a_user_outside_the_sps_application_is_denied() {
    let k = engine_kit().await;
    let xml = authn_request("_a1", PAYROLL, "", "");
    let p = pending(
        k.idp
            .saml_sso_receive(&redirect(&xml, None, false), None, now())
            .await
            .unwrap(),
    );
    let (_, live) = password_session(&k).await;
    let sso = k.idp.saml_sso_answer(&p, live, None, now()).await.unwrap();
    assert_eq!(
        refused_at(&k, sso, PAYROLL_ACS).await,
        vec![wire::STATUS_RESPONDER, wire::STATUS_REQUEST_DENIED]
    );
    assert_eq!(audit(&k, "saml.sso", "failure").await, 1);

    // IdP-initiated: nothing is posted to an SP that never asked.
    let p = pending(
        k.idp
            .saml_idp_initiated(Some(PAYROLL), "/saml/idp-init?sp=x")
            .await
            .unwrap(),
    );
    let (_, live) = password_session(&k).await;
    let sso = k.idp.saml_sso_answer(&p, live, None, now()).await.unwrap();
    assert!(matches!(sso, Sso::NotFound), "{sso:?}");
}

#[tokio::test]
async fn idp_initiated_sends_an_unsolicited_response_to_the_default_acs() {
    let k = engine_kit().await;
    let cont = "/saml/idp-init?sp=wiki";
    let p = pending(k.idp.saml_idp_initiated(Some(SP), cont).await.unwrap());
    assert_eq!(p.in_response_to(), None);
    // Not signed in: the sign-in, then back to this very URL.
    let sso = k
        .idp
        .saml_sso_answer(&p, Err(Refusal::Unknown), None, now())
        .await
        .unwrap();
    assert!(
        matches!(&sso, Sso::SignIn { cont: c, again: false } if c == cont),
        "{sso:?}"
    );
    let (_, live) = password_session(&k).await;
    let post = acs_post(k.idp.saml_sso_answer(&p, live, None, now()).await.unwrap());
    let s = seen(&k, &post).await;
    assert_eq!(s.action, ACS);
    assert_eq!(s.statuses, vec![wire::STATUS_SUCCESS]);
    assert_eq!(s.root.attr("InResponseTo"), None, "unsolicited");
    assert_eq!(
        s.relay_state.as_deref(),
        Some("/welcome"),
        "the SP's RelayState"
    );
    assert_eq!(s.audience(), SP);

    // No SP named, an unknown one, one too long.
    let long = "x".repeat(2000);
    for (sp, kind) in [
        (None, ProblemKind::Invalid),
        (Some("https://nope.example.com"), ProblemKind::UnknownSp),
        (Some(long.as_str()), ProblemKind::Invalid),
    ] {
        let problem = page(done(k.idp.saml_idp_initiated(sp, cont).await.unwrap()));
        assert_eq!(problem.kind, kind, "{sp:?}");
    }
}

#[tokio::test]
async fn metadata_names_the_entity_and_the_signing_certificate() {
    let k = engine_kit().await;
    let xml = k.idp.saml_metadata(None).await.unwrap();
    let root = decode::parse(&xml).unwrap();
    assert_eq!(root.attr("entityID"), Some(k.idp.saml_entity_id().as_str()));
    let cert = k
        .idp
        .saml_keys()
        .await
        .unwrap()
        .signer()
        .unwrap()
        .cert_b64();
    assert!(xml.contains(&cert));
}

// --------------------------------------------------------------- logout

/// Signs the session `token` in at SP; the NameID and SessionIndex given.
async fn signed_in_at_sp(k: &Kit, token: &str, id: &str) -> (String, String) {
    let xml = authn_request(id, SP, "", "");
    let p = pending(
        k.idp
            .saml_sso_receive(&redirect(&xml, None, false), None, now())
            .await
            .unwrap(),
    );
    let live = resume(k, token).await;
    let post = acs_post(k.idp.saml_sso_answer(&p, live, None, now()).await.unwrap());
    let Answer::Assertion(facts) = post.answer else {
        panic!("expected an assertion");
    };
    (facts.name_id, facts.session_index)
}

fn logout_request(id: &str, issuer: &str, name_id: &str, sidx: &str, extra: &str) -> String {
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="{id}" Version="2.0" IssueInstant="{}" Destination="https://portal.localhost/saml/slo"{extra}><saml:Issuer>{issuer}</saml:Issuer><saml:NameID>{name_id}</saml:NameID><samlp:SessionIndex>{sidx}</samlp:SessionIndex></samlp:LogoutRequest>"#,
        instant(now())
    )
}

async fn decide(k: &Kit, p: &BindingParams, token: Option<&str>) -> LogoutAnswer {
    k.idp
        .saml_slo_request(p, token, now())
        .await
        .unwrap()
        .expect("a LogoutResponse, not a page")
}

/// The LogoutResponse the SP receives over HTTP-Redirect: (its endpoint,
/// the signed query, the XML).
async fn redirected_response(k: &Kit, answer: &LogoutAnswer) -> (String, String, String) {
    let slo = k.idp.saml_slo_respond(answer, now()).await.unwrap();
    let Slo::Respond { status, delivery } = slo else {
        panic!("expected a LogoutResponse, got {slo:?}");
    };
    assert_eq!(status.code, answer.status.code);
    let Delivery::Redirect(url) = delivery else {
        panic!("this SP's logout binding is HTTP-Redirect");
    };
    let (base, query) = url.split_once('?').unwrap();
    let keys = k.idp.saml_keys().await.unwrap();
    idp::saml::signature::verify_redirect(query, "SAMLResponse", &keys.signer().unwrap().cert_der)
        .expect("signed by the IdP");
    let msg = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "SAMLResponse")
        .map(|(_, v)| decode::redirect_message(&v, 65536).unwrap())
        .unwrap();
    (base.to_string(), query.to_string(), msg)
}

fn status_value(xml: &str) -> String {
    decode::parse(xml)
        .unwrap()
        .child(NS_PROTOCOL, "Status")
        .and_then(|s| s.child(NS_PROTOCOL, "StatusCode"))
        .and_then(|c| c.attr("Value"))
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn a_signed_logout_request_for_the_browsers_session_ends_it() {
    let k = engine_kit().await;
    let (token, _) = password_session(&k).await;
    let (name_id, sidx) = signed_in_at_sp(&k, &token, "_s1").await;
    let xml = logout_request("_l1", SP, &name_id, &sidx, "");
    let answer = decide(&k, &redirect(&xml, Some("bye"), true), Some(&token)).await;
    assert!(answer.session_ended);
    assert_eq!(answer.status.code, wire::STATUS_SUCCESS);
    assert_eq!(resume(&k, &token).await.err(), Some(Refusal::Unknown));
    let (to, query, msg) = redirected_response(&k, &answer).await;
    assert_eq!(to, SLO);
    assert!(query.contains("RelayState=bye"));
    assert_eq!(status_value(&msg), wire::STATUS_SUCCESS);
    let root = decode::parse(&msg).unwrap();
    assert_eq!(root.attr("InResponseTo"), Some("_l1"));
    assert_eq!(root.attr("Destination"), Some(SLO));
    assert_eq!(audit(&k, "signout", "success").await, 1);
}

#[tokio::test]
async fn logout_requests_that_end_nothing() {
    let k = engine_kit().await;
    let (token, _) = password_session(&k).await;
    let (name_id, sidx) = signed_in_at_sp(&k, &token, "_s2").await;
    let denied = [wire::STATUS_REQUESTER, wire::STATUS_REQUEST_DENIED];
    let expired = format!(r#" NotOnOrAfter="{}""#, instant(now() - HOUR));
    let cases: Vec<(BindingParams, &str)> = vec![
        // Unsigned, from an SP with a certificate.
        (
            redirect(&logout_request("_l2", SP, &name_id, &sidx, ""), None, false),
            denied[0],
        ),
        // Another subject.
        (
            redirect(
                &logout_request("_l3", SP, "mallory@example.com", &sidx, ""),
                None,
                true,
            ),
            wire::STATUS_REQUESTER,
        ),
        // Another session index.
        (
            redirect(
                &logout_request("_l4", SP, &name_id, "_other", ""),
                None,
                true,
            ),
            wire::STATUS_REQUESTER,
        ),
        // Expired.
        (
            redirect(
                &logout_request("_l5", SP, &name_id, &sidx, &expired),
                None,
                true,
            ),
            denied[0],
        ),
    ];
    for (i, (p, code)) in cases.iter().enumerate() {
        let answer = decide(&k, p, Some(&token)).await;
        assert!(!answer.session_ended, "case {i}");
        assert_eq!(answer.status.code, *code, "case {i}: {:?}", answer.status);
        let (to, _, msg) = redirected_response(&k, &answer).await;
        assert_eq!(to, SLO);
        assert_eq!(status_value(&msg), *code, "case {i}");
        assert!(
            resume(&k, &token).await.is_ok(),
            "case {i}: the session is kept"
        );
    }
    // Each of those IDs is remembered: sent again, it is a replay.
    assert_eq!(
        decide(&k, &cases[1].0, Some(&token))
            .await
            .status
            .message
            .as_deref(),
        Some("this logout request was received before")
    );
    assert_eq!(
        decide(&k, &cases[0].0, Some(&token)).await.status.sub,
        Some(denied[1])
    );
    assert!(audit(&k, "saml.slo", "failure").await >= 4);

    // No SessionIndex: nothing is ended (every assertion we issue has one).
    let bare = logout_request("_l6", SP, &name_id, &sidx, "").replace(
        &format!("<samlp:SessionIndex>{sidx}</samlp:SessionIndex>"),
        "",
    );
    let answer = decide(&k, &redirect(&bare, None, true), Some(&token)).await;
    assert_eq!(answer.status.sub, Some(wire::STATUS_UNKNOWN_PRINCIPAL));
    assert!(!answer.ended);
    assert!(resume(&k, &token).await.is_ok());

    // An SP that is not registered for logout gets a page.
    for issuer in ["https://evil.example.com", MFA_SP] {
        let xml = logout_request("_l7", issuer, &name_id, &sidx, "");
        let problem = k
            .idp
            .saml_slo_request(&redirect(&xml, None, false), Some(&token), now())
            .await
            .unwrap()
            .expect_err("a page");
        assert_eq!(problem.kind, ProblemKind::Invalid, "{issuer}");
    }
}

#[tokio::test]
async fn a_logout_request_without_the_cookie_ends_the_session_it_names() {
    // An SP's cross-site POST carries no SameSite=Lax cookie: the session is
    // found by the SP, the NameID and the SessionIndex.
    let k = engine_kit().await;
    let (token, _) = password_session(&k).await;
    let (other, _) = password_session(&k).await;
    let (name_id, sidx) = signed_in_at_sp(&k, &token, "_n1").await;
    let xml = logout_request("_ln1", SP, &name_id, &sidx, "");
    for t in [None, Some(other.as_str())] {
        // A session this SP was not given this index in ends nothing: never Success.
        let wrong = logout_request(
            &format!("_lw{}", t.is_some() as u8),
            SP,
            &name_id,
            "_not-issued",
            "",
        );
        let answer = decide(&k, &redirect(&wrong, None, true), t).await;
        assert_ne!(answer.status.code, wire::STATUS_SUCCESS);
        assert!(!answer.ended);
    }
    let answer = decide(&k, &post(&sign_post(&xml, "_ln1"), None), None).await;
    assert_eq!(
        answer.status.code,
        wire::STATUS_SUCCESS,
        "{:?}",
        answer.status
    );
    assert!(answer.ended);
    assert!(!answer.session_ended, "no cookie came, none to clear");
    assert_eq!(resume(&k, &token).await.err(), Some(Refusal::Unknown));
    assert!(resume(&k, &other).await.is_ok(), "another session is kept");
    assert_eq!(audit(&k, "signout", "success").await, 1);
    // Now nothing is left to end: not Success.
    let again = logout_request("_ln2", SP, &name_id, &sidx, "");
    let answer = decide(&k, &redirect(&again, None, true), None).await;
    assert_eq!(answer.status.sub, Some(wire::STATUS_UNKNOWN_PRINCIPAL));
}

#[tokio::test]
async fn a_replayed_logout_request_ends_no_later_session() {
    let k = engine_kit().await;
    let (token, _) = password_session(&k).await;
    let (name_id, sidx) = signed_in_at_sp(&k, &token, "_p1").await;
    let captured = redirect(&logout_request("_lr", SP, &name_id, &sidx, ""), None, true);
    let answer = decide(&k, &captured, Some(&token)).await;
    assert_eq!(answer.status.code, wire::STATUS_SUCCESS);
    // The user signs in again, and the SP is given the same SessionIndex
    // (the strongest case for the attacker) in the new session.
    let (next, _) = password_session(&k).await;
    let (again, _) = signed_in_at_sp(&k, &next, "_p2").await;
    let user = k.demo_user().await;
    k.idp
        .store
        .insert_saml_session(&idp::store::SamlSessionRow {
            id: "row-replay".into(),
            session_hash: idp::session::SessionKey::of_token(&next)
                .as_str()
                .to_string(),
            user_id: user.id.clone(),
            sp_entity_id: SP.into(),
            name_id: again.clone(),
            name_id_format: NAMEID_EMAIL.into(),
            session_index: sidx.clone(),
            created_at: now(),
            expires_at: now() + HOUR,
        })
        .await
        .unwrap();
    let replay = decide(&k, &captured, Some(&next)).await;
    assert_eq!(replay.status.sub, Some(wire::STATUS_REQUEST_DENIED));
    assert!(!replay.ended && !replay.session_ended);
    assert!(resume(&k, &next).await.is_ok(), "the next session is kept");
}

#[tokio::test]
async fn an_sp_with_the_post_logout_binding_gets_a_signed_form() {
    let k = engine_kit().await;
    let (token, _) = password_session(&k).await;
    let xml = logout_request("_lp", SIGNED, "someone", "_x", "");
    let answer = decide(&k, &post(&sign_post(&xml, "_lp"), Some("r")), Some(&token)).await;
    // Nothing was signed in at SIGNED through this session.
    assert_eq!(answer.status.sub, Some(wire::STATUS_UNKNOWN_PRINCIPAL));
    let slo = k.idp.saml_slo_respond(&answer, now()).await.unwrap();
    let Slo::Respond {
        delivery: Delivery::Post { action, fields },
        ..
    } = slo
    else {
        panic!("expected a form, got {slo:?}");
    };
    assert_eq!(action, SIGNED_SLO);
    assert_eq!(
        fields
            .iter()
            .find(|(n, _)| n == "RelayState")
            .map(|(_, v)| v.as_str()),
        Some("r")
    );
    let value = &fields.iter().find(|(n, _)| n == "SAMLResponse").unwrap().1;
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(status_value(&xml), wire::STATUS_REQUESTER);
    let keys = k.idp.saml_keys().await.unwrap();
    idp::saml::signature::verify_enveloped(&xml, &keys.signer().unwrap().cert_der)
        .expect("an enveloped signature");
}

#[tokio::test]
async fn a_portal_logout_tells_each_sp_in_turn() {
    let k = engine_kit().await;
    let (token, _) = password_session(&k).await;
    let (name_id, sidx) = signed_in_at_sp(&k, &token, "_c1").await;
    let key = idp::session::SessionKey::of_token(&token);
    let start = k
        .idp
        .saml_start_logout(&key)
        .await
        .unwrap()
        .expect("an SP to tell");
    k.idp.end_session(&key).await.unwrap();
    let chain: String = url::form_urlencoded::parse(start.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "chain")
        .unwrap()
        .1
        .into_owned();

    let slo = k.idp.saml_slo_next(Some(&chain), now()).await.unwrap();
    let Slo::Next {
        sp_entity_id,
        request_id,
        delivery: Delivery::Redirect(url),
    } = slo
    else {
        panic!("expected a LogoutRequest to SP, got {slo:?}");
    };
    assert_eq!(sp_entity_id, SP);
    let (base, query) = url.split_once('?').unwrap();
    assert_eq!(base, SLO);
    let keys = k.idp.saml_keys().await.unwrap();
    idp::saml::signature::verify_redirect(query, "SAMLRequest", &keys.signer().unwrap().cert_der)
        .unwrap();
    let xml = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "SAMLRequest")
        .map(|(_, v)| decode::redirect_message(&v, 65536).unwrap())
        .unwrap();
    let req = wire::LogoutRequest::parse(&xml).unwrap();
    assert_eq!(req.id, request_id);
    assert_eq!(req.name_id, name_id);
    assert_eq!(req.session_indexes, vec![sidx]);

    let answer = |irt: &str| {
        format!(
            r#"<samlp:LogoutResponse xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="_a{irt}" Version="2.0" IssueInstant="{}" InResponseTo="{irt}"><saml:Issuer>{SP}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{}"/></samlp:Status></samlp:LogoutResponse>"#,
            instant(now()),
            wire::STATUS_SUCCESS
        )
    };
    let response = |xml: &str, sign: bool| {
        redirect_params(xml, "SAMLResponse", Some(&chain), sign, &sp_key().0)
    };
    // Unsigned from an SP with a certificate, or answering something never
    // asked: a page.
    for (p, text) in [
        (response(&answer(&request_id), false), "signature"),
        (response(&answer("_nope"), true), "logout in progress"),
    ] {
        let slo = k.idp.saml_slo_response(&p, now()).await.unwrap();
        let Slo::Page(problem) = slo else {
            panic!("expected a page, got {slo:?}");
        };
        assert!(problem.message.contains(text), "{}", problem.message);
    }
    // The SP's answer: no SP left, the chain is over.
    let slo = k
        .idp
        .saml_slo_response(&response(&answer(&request_id), true), now())
        .await
        .unwrap();
    assert!(matches!(slo, Slo::Done), "{slo:?}");
    // No chain named.
    assert!(matches!(
        k.idp.saml_slo_next(None, now()).await.unwrap(),
        Slo::SignedOut
    ));
}

#[tokio::test]
async fn not_before_allows_for_an_sp_whose_clock_runs_behind() {
    let k = engine_kit().await;
    let (_token, live) = password_session(&k).await;
    let xml = authn_request("_nb", SP, "", "");
    let p = pending(
        k.idp
            .saml_sso_receive(&redirect(&xml, None, false), None, now())
            .await
            .unwrap(),
    );
    let post = acs_post(k.idp.saml_sso_answer(&p, live, None, now()).await.unwrap());
    let s = seen(&k, &post).await;
    let a = s.assertion().expect("an assertion");
    let issued = wire::parse_instant(a.attr("IssueInstant").unwrap()).unwrap();
    let not_before = wire::parse_instant(
        a.child(NS_ASSERTION, "Conditions")
            .and_then(|c| c.attr("NotBefore"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        issued - not_before,
        k.idp.config.saml.clock_skew.as_secs() as i64,
        "NotBefore lies the clock skew before IssueInstant"
    );
}
