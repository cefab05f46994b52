//! The SAML attack suite: hostile messages, built here, against both sides
//! (the IdP engine and the federation SP). Each must fail closed: no
//! session, no stored sign-in, and a clear status or page saying why.
//! Beside each attack, the honest message of the same shape still works, so
//! a refusal is known to come from the attack and not from the harness.

mod support;

use std::sync::{Arc, OnceLock};

use base64::Engine;
use idp::federation::FederationError;
use idp::federation::routing::Provider;
use idp::saml::binding::BindingParams;
use idp::saml::slo::Slo;
use idp::saml::sso::{Answer, ProblemKind, Sso, Step};
use idp::saml::wire::{self, NS_ASSERTION, NS_PROTOCOL, instant};
use idp::session::Presented;
use openssl::pkey::{PKey, Private};
use serde_json::json;
use support::{Kit, kit_with};

const SP: &str = "https://sp.example.com/metadata";
const ACS: &str = "https://sp.example.com/acs";
const SLO: &str = "https://sp.example.com/slo";
const UPSTREAM: &str = "https://idp.saml.example/metadata";
const XSLT_ALG: &str = "http://www.w3.org/TR/1999/REC-xslt-19991116";

// ---------------------------------------------------------------- keys

/// A key pair: (private key, certificate as base64 DER, PKCS#1 DER).
struct KeyPair {
    #[allow(dead_code)]
    key: PKey<Private>,
    cert_b64: String,
    der: Vec<u8>,
}

fn key_pair(cn: &str) -> KeyPair {
    let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
    let der = rsa.private_key_to_der().unwrap();
    let key = PKey::from_rsa(rsa).unwrap();
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
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
    let cert_b64 = b64(&b.build().to_der().unwrap());
    KeyPair { key, cert_b64, der }
}

fn sp_key() -> &'static KeyPair {
    static K: OnceLock<KeyPair> = OnceLock::new();
    K.get_or_init(|| key_pair("sp"))
}

fn upstream_key() -> &'static KeyPair {
    static K: OnceLock<KeyPair> = OnceLock::new();
    K.get_or_init(|| key_pair("upstream-idp"))
}

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn now() -> i64 {
    idp::clock::now()
}

fn pem(cert_b64: &str) -> String {
    let body: Vec<String> = cert_b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        body.join("\n")
    )
}

// ---------------------------------------------------------- signatures

/// A signature template over `#id` with these transforms (xmlsec fills in
/// digest and value when signing).
fn template_with(id: &str, transforms: &str, cert_b64: &str) -> String {
    format!(
        concat!(
            r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>"#,
            r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
            r#"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>"#,
            r##"<ds:Reference URI="#{id}"><ds:Transforms>{transforms}</ds:Transforms>"##,
            r#"<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>"#,
            r#"<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>"#,
            r#"<ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data>"#,
            r#"<ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"#
        ),
        id = id,
        transforms = transforms,
        cert = cert_b64
    )
}

const ENVELOPED: &str =
    r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#;
const EXC_C14N: &str = r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#;

/// An XSLT transform whose stylesheet copies its input unchanged.
fn identity_xslt() -> String {
    format!(
        r#"<ds:Transform Algorithm="{XSLT_ALG}"><xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"><xsl:template match="@*|node()"><xsl:copy><xsl:apply-templates select="@*|node()"/></xsl:copy></xsl:template></xsl:stylesheet></ds:Transform>"#
    )
}

/// An XSLT transform whose cost doubles per level: 2^depth calls.
fn recursive_xslt(depth: u32) -> String {
    format!(
        r#"<ds:Transform Algorithm="{XSLT_ALG}"><xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"><xsl:template match="/"><xsl:call-template name="f"><xsl:with-param name="n" select="{depth}"/></xsl:call-template></xsl:template><xsl:template name="f"><xsl:param name="n"/><xsl:if test="$n &gt; 0"><xsl:call-template name="f"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template><xsl:call-template name="f"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template></xsl:if></xsl:template></xsl:stylesheet></ds:Transform>"#
    )
}

/// Signs the first template of `xml` with `key`.
fn sign(xml: &str, key: &KeyPair) -> String {
    idp::saml::signature::sign_enveloped(xml, &key.der).unwrap()
}

/// `xml` with a signature (these transforms) placed after the first
/// `</saml:Issuer>` at or after `after`, signed by `key`.
fn signed_with(xml: &str, id: &str, transforms: &str, key: &KeyPair, after: &str) -> String {
    let at = xml.find(after).expect("anchor") + after.len();
    let (head, tail) = xml.split_at(at);
    let tail = tail.replacen(
        "</saml:Issuer>",
        &format!(
            "</saml:Issuer>{}",
            template_with(id, transforms, &key.cert_b64)
        ),
        1,
    );
    sign(&format!("{head}{tail}"), key)
}

/// The template (unsigned: the attack is refused before any digest is
/// computed) with these transforms.
fn with_template(xml: &str, id: &str, transforms: &str, key: &KeyPair) -> String {
    xml.replacen(
        "</saml:Issuer>",
        &format!(
            "</saml:Issuer>{}",
            template_with(id, transforms, &key.cert_b64)
        ),
        1,
    )
}

// ------------------------------------------------------------ IdP side

async fn idp_kit() -> Kit {
    let cert = pem(&sp_key().cert_b64);
    let sp = |v: serde_json::Value| serde_json::from_value(v).unwrap();
    let k = kit_with(|c| {
        c.saml.service_providers = vec![sp(json!({
            "entity_id": SP,
            "acs": [{"url": ACS}],
            "slo_url": SLO,
            "certificate": cert,
            "application": "Team Wiki",
        }))];
    })
    .await;
    // The password was set long before any session of the suite began.
    let user = k.demo_user().await;
    k.idp
        .store
        .set_password_changed_at(&user.id, now() - 20 * 3600)
        .await
        .unwrap();
    k
}

fn authn_request(id: &str) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="{id}" Version="2.0" IssueInstant="{}" AssertionConsumerServiceURL="{ACS}"><saml:Issuer>{SP}</saml:Issuer></samlp:AuthnRequest>"#,
        instant(now())
    )
}

fn logout_request(id: &str, name_id: &str, sidx: &str) -> String {
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="{id}" Version="2.0" IssueInstant="{}" Destination="https://portal.localhost/saml/slo"><saml:Issuer>{SP}</saml:Issuer><saml:NameID>{name_id}</saml:NameID><samlp:SessionIndex>{sidx}</samlp:SessionIndex></samlp:LogoutRequest>"#,
        instant(now())
    )
}

fn post(xml: &str) -> BindingParams {
    BindingParams {
        message: Some(b64(xml.as_bytes())),
        relay_state: None,
        redirect_query: None,
    }
}

/// The status of an error Response to the ACS: (top code, message).
fn refused(step: Step) -> (String, String) {
    let Step::Done(Sso::Post(post)) = step else {
        panic!("expected a Response to the ACS, got {step:?}");
    };
    assert_eq!(post.acs_url, ACS);
    let Answer::Status(status) = post.answer else {
        panic!("expected an error status, got an assertion");
    };
    assert_ne!(status.code, wire::STATUS_SUCCESS);
    (status.code.to_string(), status.message.unwrap_or_default())
}

/// A portal session and the SAML session the SP got through it:
/// (cookie value, NameID, SessionIndex).
async fn signed_in_at_sp(k: &Kit, id: &str) -> (String, String, String) {
    let user = k.demo_user().await;
    let (token, _) = k
        .idp
        .sessions
        .create_with(&user.id, vec!["pwd".into()], None, now() - 60, None, now())
        .await
        .unwrap();
    let step = k
        .idp
        .saml_sso_receive(&post(&authn_request(id)), None, now())
        .await
        .unwrap();
    let Step::Answer(p) = step else {
        panic!("expected a pending sign-in, got {step:?}");
    };
    let live = k.idp.resume(Presented::Token(&token), now()).await.unwrap();
    let Sso::Post(post) = k.idp.saml_sso_answer(&p, live, None, now()).await.unwrap() else {
        panic!("expected an assertion");
    };
    let Answer::Assertion(facts) = post.answer else {
        panic!("expected an assertion");
    };
    (token, facts.name_id, facts.session_index)
}

async fn session_alive(k: &Kit, token: &str) -> bool {
    k.idp
        .resume(Presented::Token(token), now())
        .await
        .unwrap()
        .is_ok()
}

#[tokio::test]
async fn a_signed_authn_request_with_the_usual_transforms_is_accepted() {
    let k = idp_kit().await;
    let xml = signed_with(
        &authn_request("_honest"),
        "_honest",
        &format!("{ENVELOPED}{EXC_C14N}"),
        sp_key(),
        "",
    );
    let step = k
        .idp
        .saml_sso_receive(&post(&xml), None, now())
        .await
        .unwrap();
    assert!(matches!(step, Step::Answer(_)), "{step:?}");
}

#[tokio::test]
async fn a_recursive_xslt_transform_in_an_authn_request_is_refused_unrun() {
    let k = idp_kit().await;
    let xml = with_template(
        &authn_request("_xslt"),
        "_xslt",
        &format!("{ENVELOPED}{}{EXC_C14N}", recursive_xslt(30)),
        sp_key(),
    );
    let (code, why) = refused(
        k.idp
            .saml_sso_receive(&post(&xml), None, now())
            .await
            .unwrap(),
    );
    assert_eq!(code, wire::STATUS_REQUESTER);
    // Refused by our checker (it names the stylesheet), not by xmlsec
    // (which would say the signature does not verify, after running it).
    assert!(why.contains("XSLT"), "{why}");
}

#[tokio::test]
async fn other_transforms_and_two_references_are_refused_in_authn_requests() {
    let k = idp_kit().await;
    let xpath = r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>1</ds:XPath></ds:Transform>"#;
    let base64 = r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#base64"/>"#;
    for (n, transforms) in [
        format!("{ENVELOPED}{}", identity_xslt()),
        format!("{ENVELOPED}{xpath}"),
        format!("{ENVELOPED}{base64}"),
        format!("{ENVELOPED}{ENVELOPED}{EXC_C14N}"),
    ]
    .iter()
    .enumerate()
    {
        let id = format!("_t{n}");
        let xml = with_template(&authn_request(&id), &id, transforms, sp_key());
        let (_, why) = refused(
            k.idp
                .saml_sso_receive(&post(&xml), None, now())
                .await
                .unwrap(),
        );
        assert!(why.contains("not acceptable"), "{transforms}: {why}");
    }
    let two = with_template(
        &authn_request("_two"),
        "_two",
        &format!("{ENVELOPED}{EXC_C14N}"),
        sp_key(),
    )
    .replace(
        "</ds:SignedInfo>",
        r##"<ds:Reference URI="#_two"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>"##,
    );
    let (_, why) = refused(
        k.idp
            .saml_sso_receive(&post(&two), None, now())
            .await
            .unwrap(),
    );
    assert!(why.contains("Reference"), "{why}");
}

#[tokio::test]
async fn an_xslt_transform_in_a_logout_request_ends_nothing() {
    let k = idp_kit().await;
    let (token, name_id, sidx) = signed_in_at_sp(&k, "_s1").await;
    let xml = with_template(
        &logout_request("_lx", &name_id, &sidx),
        "_lx",
        &format!("{ENVELOPED}{}", recursive_xslt(30)),
        sp_key(),
    );
    let answer = k
        .idp
        .saml_slo_request(&post(&xml), Some(&token), now())
        .await
        .unwrap()
        .expect("a LogoutResponse");
    assert!(!answer.session_ended);
    assert_ne!(answer.status.code, wire::STATUS_SUCCESS);
    assert!(
        answer
            .status
            .message
            .as_deref()
            .unwrap_or("")
            .contains("XSLT"),
        "{:?}",
        answer.status
    );
    assert!(session_alive(&k, &token).await);
}

#[tokio::test]
async fn dtds_entities_and_processing_instructions_get_a_page_on_the_idp() {
    let k = idp_kit().await;
    let (token, name_id, sidx) = signed_in_at_sp(&k, "_s2").await;
    let dtd = |xml: &str| format!(r#"<!DOCTYPE r [<!ENTITY e "x">]>{xml}"#);
    let pi = |xml: &str| xml.replacen("<saml:Issuer>", "<?evil x?><saml:Issuer>", 1);
    // AuthnRequest.
    for bad in [dtd(&authn_request("_d1")), pi(&authn_request("_d2"))] {
        let Step::Done(Sso::Page(p)) = k
            .idp
            .saml_sso_receive(&post(&bad), None, now())
            .await
            .unwrap()
        else {
            panic!("expected a page for {bad}");
        };
        assert_eq!(p.kind, ProblemKind::Invalid);
        assert!(
            p.message.contains("DTD") || p.message.contains("processing instruction"),
            "{}",
            p.message
        );
    }
    // LogoutRequest.
    for bad in [
        dtd(&logout_request("_d3", &name_id, &sidx)),
        pi(&logout_request("_d4", &name_id, &sidx)),
    ] {
        let p = k
            .idp
            .saml_slo_request(&post(&bad), Some(&token), now())
            .await
            .unwrap()
            .expect_err("a page");
        assert!(
            p.message.contains("DTD") || p.message.contains("processing instruction"),
            "{}",
            p.message
        );
    }
    assert!(session_alive(&k, &token).await);
    // LogoutResponse.
    let res = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="_r" Version="2.0" IssueInstant="{}" InResponseTo="_x"><saml:Issuer>{SP}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{}"/></samlp:Status></samlp:LogoutResponse>"#,
        instant(now()),
        wire::STATUS_SUCCESS
    );
    for bad in [dtd(&res), pi(&res)] {
        let slo = k.idp.saml_slo_response(&post(&bad), now()).await.unwrap();
        let Slo::Page(p) = slo else {
            panic!("expected a page, got {slo:?}");
        };
        assert!(
            p.message.contains("DTD") || p.message.contains("processing instruction"),
            "{}",
            p.message
        );
    }
    // SP metadata import.
    let md = r#"<!DOCTYPE m [<!ENTITY e SYSTEM "file:///etc/passwd">]><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://x/">&e;</md:EntityDescriptor>"#;
    assert!(idp::saml::sps::from_metadata(md, "Team Wiki").is_err());
}

// ------------------------------------------------------ federation side

fn upstream_metadata() -> String {
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{UPSTREAM}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.saml.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#,
        upstream_key().cert_b64
    )
}

struct Fed {
    kit: Kit,
    _dir: tempfile::TempDir,
}

async fn fed_kit() -> Fed {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("idp.xml");
    std::fs::write(&md, upstream_metadata()).unwrap();
    let text = format!(
        r#"
[[saml]]
id = "saml"
name = "SAML Partner"
domains = ["saml.example"]
metadata_file = "{}"
"#,
        md.display()
    );
    let fed: idp::federation::FederationConfig = toml::from_str(&text).unwrap();
    fed.validate().unwrap();
    let kit = kit_with(|c| c.federation = fed).await;
    Fed { kit, _dir: dir }
}

fn provider(k: &Kit) -> Arc<Provider> {
    k.idp.federation.get("saml").unwrap()
}

/// Sends a sign-in upstream: the open request ID.
async fn open_request(k: &Kit) -> String {
    let p = provider(k);
    let started = k.idp.start_federation(&p, None, None).await.unwrap();
    started.saml.unwrap().request_id
}

/// An upstream Response to `rid` with an assertion (ID `_a-<rid>`) whose
/// signature uses `transforms`, validly signed by the upstream key.
fn upstream_response(k: &Kit, rid: &str, transforms: &str) -> String {
    let p = provider(k);
    let Provider::Saml(s) = p.as_ref() else {
        panic!("a SAML provider");
    };
    let t = |d: i64| instant(now() + d);
    let aid = format!("_a{}", &rid[1..]);
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="_r{rid}" Version="2.0" IssueInstant="{now}" Destination="{acs}" InResponseTo="{rid}"><saml:Issuer>{UPSTREAM}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="{aid}" Version="2.0" IssueInstant="{now}"><saml:Issuer>{UPSTREAM}</saml:Issuer><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">upstream-alice</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="{rid}" Recipient="{acs}" NotOnOrAfter="{later}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{before}" NotOnOrAfter="{later}"><saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{now}" SessionIndex="_si"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="mail"><saml:AttributeValue>alice@saml.example</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"#,
        now = t(0),
        before = t(-60),
        later = t(300),
        acs = s.acs_url,
        aud = s.sp_entity_id,
    );
    signed_with(&xml, &aid, transforms, upstream_key(), "<saml:Assertion")
}

/// Posts a Response to the federation ACS: the outcome of accepting it.
async fn accept(k: &Kit, xml: &str) -> Result<String, FederationError> {
    let p = provider(k);
    let Provider::Saml(s) = p.as_ref() else {
        panic!("a SAML provider");
    };
    s.accept(
        &k.idp.federation.http,
        &k.idp.store,
        &b64(xml.as_bytes()),
        |_| "sealed".to_string(),
    )
    .await
    .map(|(rid, _)| rid)
}

/// Nothing is waiting for the browser's return: no sign-in can follow.
async fn nothing_to_take(k: &Kit, rid: &str) {
    let taken = k
        .idp
        .store
        .take_federation_result(rid, "saml", now())
        .await
        .unwrap();
    assert!(taken.is_none(), "a sign-in result was stored");
}

#[tokio::test]
async fn an_honestly_signed_upstream_response_is_accepted() {
    let f = fed_kit().await;
    let rid = open_request(&f.kit).await;
    let xml = upstream_response(&f.kit, &rid, &format!("{ENVELOPED}{EXC_C14N}"));
    assert_eq!(accept(&f.kit, &xml).await.unwrap(), rid);
}

#[tokio::test]
async fn an_identity_xslt_signed_upstream_response_signs_nobody_in() {
    let f = fed_kit().await;
    let rid = open_request(&f.kit).await;
    // Validly signed: xmlsec ran the stylesheet when it signed.
    let xml = upstream_response(
        &f.kit,
        &rid,
        &format!("{ENVELOPED}{}{EXC_C14N}", identity_xslt()),
    );
    let err = accept(&f.kit, &xml).await.unwrap_err();
    assert!(
        matches!(&err, FederationError::Invalid(m) if m.contains("XSLT")),
        "{err:?}"
    );
    nothing_to_take(&f.kit, &rid).await;
    // The request is still open: an honest answer after the attack works.
    let honest = upstream_response(&f.kit, &rid, &format!("{ENVELOPED}{EXC_C14N}"));
    assert_eq!(accept(&f.kit, &honest).await.unwrap(), rid);
}

#[tokio::test]
async fn a_recursive_xslt_upstream_response_is_refused_unrun() {
    let f = fed_kit().await;
    let rid = open_request(&f.kit).await;
    let p = provider(&f.kit);
    let Provider::Saml(s) = p.as_ref() else {
        panic!()
    };
    let aid = format!("_a{}", &rid[1..]);
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="_r" Version="2.0" IssueInstant="{}" Destination="{}" InResponseTo="{rid}"><saml:Issuer>{UPSTREAM}</saml:Issuer><saml:Assertion ID="{aid}" Version="2.0" IssueInstant="{}"><saml:Issuer>{UPSTREAM}</saml:Issuer></saml:Assertion></samlp:Response>"#,
        instant(now()),
        s.acs_url,
        instant(now())
    );
    let at = xml.find("<saml:Assertion").unwrap();
    let (head, tail) = xml.split_at(at);
    let tail = tail.replacen(
        "</saml:Issuer>",
        &format!(
            "</saml:Issuer>{}",
            template_with(
                &aid,
                &format!("{ENVELOPED}{}", recursive_xslt(30)),
                &upstream_key().cert_b64
            )
        ),
        1,
    );
    let err = accept(&f.kit, &format!("{head}{tail}")).await.unwrap_err();
    assert!(
        matches!(&err, FederationError::Invalid(m) if m.contains("XSLT")),
        "{err:?}"
    );
    nothing_to_take(&f.kit, &rid).await;
}

#[tokio::test]
async fn a_signed_upstream_response_with_a_doctype_or_a_pi_is_refused() {
    let f = fed_kit().await;
    let rid = open_request(&f.kit).await;
    let honest = upstream_response(&f.kit, &rid, &format!("{ENVELOPED}{EXC_C14N}"));
    // Outside the signed assertion: the signature still verifies.
    let doctype = format!("<!DOCTYPE samlp:Response>{honest}");
    let entity = format!(r#"<!DOCTYPE r [<!ENTITY big "x">]>{honest}"#);
    let pi = honest.replacen(
        "<samlp:Status>",
        "<?xml-stylesheet href=\"x\"?><samlp:Status>",
        1,
    );
    let pi_prolog = format!("<?xml-stylesheet href=\"x\"?>{honest}");
    for bad in [doctype, entity, pi, pi_prolog] {
        let err = accept(&f.kit, &bad).await.unwrap_err();
        assert!(
            matches!(&err, FederationError::Invalid(m) if m.contains("DTD") || m.contains("processing instruction")),
            "{err:?}"
        );
    }
    nothing_to_take(&f.kit, &rid).await;
    assert_eq!(accept(&f.kit, &honest).await.unwrap(), rid);
}

#[tokio::test]
async fn upstream_metadata_with_a_doctype_or_a_pi_is_refused() {
    let md = upstream_metadata();
    assert!(idp::federation::saml::parse_metadata(&md).is_ok());
    for bad in [
        format!(r#"<!DOCTYPE m [<!ENTITY e SYSTEM "file:///etc/passwd">]>{md}"#),
        md.replacen("<md:IDPSSODescriptor", "<?pi x?><md:IDPSSODescriptor", 1),
    ] {
        let e = idp::federation::saml::parse_metadata(&bad).unwrap_err();
        assert!(
            e.contains("DTD") || e.contains("processing instruction"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn signatures_outside_the_response_and_its_assertions_are_refused() {
    let f = fed_kit().await;
    let rid = open_request(&f.kit).await;
    let honest = upstream_response(&f.kit, &rid, &format!("{ENVELOPED}{EXC_C14N}"));
    // A signature moved into the Subject: a wrapping layout.
    let sig_start = honest.find("<ds:Signature").unwrap();
    let sig_end = honest.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let sig = &honest[sig_start..sig_end];
    let moved =
        honest
            .replacen(sig, "", 1)
            .replacen("<saml:NameID", &format!("{sig}<saml:NameID"), 1);
    let err = accept(&f.kit, &moved).await.unwrap_err();
    assert!(matches!(&err, FederationError::Invalid(_)), "{err:?}");
    nothing_to_take(&f.kit, &rid).await;
}

#[tokio::test]
async fn an_answer_to_no_request_is_not_called_a_replay_and_a_replay_is() {
    let f = fed_kit().await;
    let rid = open_request(&f.kit).await;
    // Validly signed, but to a request never made here.
    let stranger = upstream_response(
        &f.kit,
        "_0123456789abcdef0123456789abcdef",
        &format!("{ENVELOPED}{EXC_C14N}"),
    );
    let err = accept(&f.kit, &stranger).await.unwrap_err();
    assert!(matches!(err, FederationError::UnknownRequest), "{err:?}");
    assert!(!err.to_string().contains("already used"), "{err}");
    // The honest answer, then the same answer again: a replay.
    let honest = upstream_response(&f.kit, &rid, &format!("{ENVELOPED}{EXC_C14N}"));
    assert_eq!(accept(&f.kit, &honest).await.unwrap(), rid);
    let err = accept(&f.kit, &honest).await.unwrap_err();
    assert!(matches!(err, FederationError::Replayed), "{err:?}");
}

#[tokio::test]
async fn a_replayed_logout_request_ends_nothing() {
    let k = idp_kit().await;
    let (token, name_id, sidx) = signed_in_at_sp(&k, "_s3").await;
    let captured = signed_with(
        &logout_request("_lrep", &name_id, &sidx),
        "_lrep",
        &format!("{ENVELOPED}{EXC_C14N}"),
        sp_key(),
        "",
    );
    let first = k
        .idp
        .saml_slo_request(&post(&captured), None, now())
        .await
        .unwrap()
        .expect("a LogoutResponse");
    assert_eq!(
        first.status.code,
        wire::STATUS_SUCCESS,
        "{:?}",
        first.status
    );
    assert!(first.ended);
    assert!(!session_alive(&k, &token).await);
    let again = k
        .idp
        .saml_slo_request(&post(&captured), None, now())
        .await
        .unwrap()
        .expect("a LogoutResponse");
    assert_eq!(again.status.sub, Some(wire::STATUS_REQUEST_DENIED));
    assert!(!again.ended);
}

#[tokio::test]
async fn signature_wrapping_layouts_are_refused_before_xmlsec() {
    let f = fed_kit().await;
    let rid = open_request(&f.kit).await;
    let honest = upstream_response(&f.kit, &rid, &format!("{ENVELOPED}{EXC_C14N}"));
    let aid = format!("_a{}", &rid[1..]);
    let a_start = honest.find("<saml:Assertion").unwrap();
    let a_end = honest.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let assertion = &honest[a_start..a_end];
    let sig_start = honest.find("<ds:Signature").unwrap();
    let sig_end = honest.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let sig = &honest[sig_start..sig_end];
    let layouts = [
        // The signed assertion copied beside an evil one with the same ID.
        honest.replacen(
            "<samlp:Status>",
            &format!("<samlp:Extensions>{assertion}</samlp:Extensions><samlp:Status>"),
            1,
        ),
        // The assertion's signature pointing at the Response instead.
        honest.replacen(&format!("URI=\"#{aid}\""), &format!("URI=\"#_r{rid}\""), 1),
        // Two signatures on the assertion.
        honest.replacen(sig, &format!("{sig}{sig}"), 1),
        // The signature moved onto the Response, still over the assertion.
        honest
            .replacen(sig, "", 1)
            .replacen("<samlp:Status>", &format!("{sig}<samlp:Status>"), 1),
    ];
    for (i, bad) in layouts.iter().enumerate() {
        let err = accept(&f.kit, bad).await.unwrap_err();
        assert!(
            matches!(&err, FederationError::Invalid(m) if m.contains("refused")),
            "layout {i}: {err:?}"
        );
    }
    nothing_to_take(&f.kit, &rid).await;
    assert_eq!(accept(&f.kit, &honest).await.unwrap(), rid);
}
