//! The signature-reference checker: what an XML signature may ask the
//! verifier to do, checked over the parsed tree in our own code before
//! xmlsec sees the document.
//!
//! xmlsec runs whatever transforms a `<ds:Reference>` names, XSLT included
//! (a recursive stylesheet costs seconds of CPU; an identity stylesheet
//! signs content that is not what we read). So every `<ds:Signature>` in a
//! document is held to this shape:
//!
//! - `SignedInfo/CanonicalizationMethod` is exclusive or inclusive
//!   canonicalisation (1.0 or 1.1, with or without comments);
//! - exactly one `Reference`, whose URI is `#` and the ID of the element the
//!   signature sits in (an enveloped signature over its parent);
//! - its `Transforms` are only the enveloped-signature transform and those
//!   canonicalisations, at most one of each kind, with nothing inside but
//!   exclusive c14n's `InclusiveNamespaces`;
//! - no `RetrievalMethod`, `Manifest` or `Object` anywhere (each can name
//!   transforms of its own), no signature inside a signature, and no XSLT
//!   element anywhere in the document;
//! - signatures only where the caller expects them ([`Placement`]).
//!
//! Pure and total, like [`super::decode`].

use super::decode::Element;
use super::message::{NS_ASSERTION, NS_DSIG, NS_PROTOCOL};

pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const EXC_C14N_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const C14N_COMMENTS: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
const C14N11: &str = "http://www.w3.org/2006/12/xml-c14n11";
const C14N11_COMMENTS: &str = "http://www.w3.org/2006/12/xml-c14n11#WithComments";
const NS_XSLT: &str = "http://www.w3.org/1999/XSL/Transform";
const XSLT: &str = "http://www.w3.org/TR/1999/REC-xslt-19991116";

/// The canonicalisations accepted, as SignedInfo's method or as a transform.
const CANONICALISATIONS: [&str; 6] = [
    EXC_C14N,
    EXC_C14N_COMMENTS,
    C14N,
    C14N_COMMENTS,
    C14N11,
    C14N11_COMMENTS,
];

/// Where signatures may sit in the document being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A protocol message an SP sends (AuthnRequest, LogoutRequest,
    /// LogoutResponse): at most one, a direct child of the root.
    Root,
    /// A `<samlp:Response>` from an IdP: on the Response, on its
    /// assertions, or both; nowhere else.
    ResponseAndAssertions,
}

/// Why a signature is not one we let the verifier see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DsigError {
    #[error("a signature is where no signature belongs")]
    Placement,
    #[error("more than one signature on one element")]
    TooMany,
    #[error("the signature has no SignedInfo")]
    NoSignedInfo,
    #[error("the canonicalisation method is not accepted")]
    Canonicalization,
    #[error("the signature must have exactly one Reference")]
    References,
    #[error("the signature does not cover the element it is in")]
    Uri,
    #[error("a transform other than enveloped-signature and canonicalisation")]
    Transform,
    #[error("the signature uses RetrievalMethod, Manifest or Object")]
    Indirection,
    #[error("an XSLT transform or stylesheet, which is never run")]
    Xslt,
}

/// Checks every signature of `root`'s document; returns how many there are.
pub fn check(root: &Element, placement: Placement) -> Result<usize, DsigError> {
    let mut count = 0;
    walk(root, None, 0, placement, &mut count)?;
    Ok(count)
}

/// `parent_of`: the element `el` is a child of; `depth`: of `el` (root 0).
fn walk(
    el: &Element,
    parent: Option<&Element>,
    depth: usize,
    placement: Placement,
    count: &mut usize,
) -> Result<(), DsigError> {
    if el.ns == NS_XSLT {
        return Err(DsigError::Xslt);
    }
    if el.ns == NS_DSIG {
        match el.name.as_str() {
            "RetrievalMethod" | "Manifest" | "Object" | "SignatureProperties" => {
                return Err(DsigError::Indirection);
            }
            "Signature" => {
                let parent = parent.ok_or(DsigError::Placement)?;
                if !placed(parent, depth, placement) {
                    return Err(DsigError::Placement);
                }
                if parent.children_named(NS_DSIG, "Signature").count() > 1 {
                    return Err(DsigError::TooMany);
                }
                signature(el, parent)?;
                *count += 1;
                // Its inside is checked: only KeyInfo may hold anything more,
                // and a signature inside it is refused below.
                return inside_signature(el);
            }
            // Transforms and c14n methods outside a Signature mean nothing
            // to us and may mean something to xmlsec.
            "Transform" | "Transforms" | "CanonicalizationMethod" | "SignedInfo" | "Reference" => {
                return Err(DsigError::Placement);
            }
            _ => {}
        }
    }
    for c in &el.children {
        walk(c, Some(el), depth + 1, placement, count)?;
    }
    Ok(())
}

/// Whether a signature may be a child of `parent` (at `depth - 1`).
fn placed(parent: &Element, depth: usize, placement: Placement) -> bool {
    match placement {
        Placement::Root => depth == 1,
        Placement::ResponseAndAssertions => {
            (depth == 1 && parent.is(NS_PROTOCOL, "Response"))
                || (depth == 2 && parent.is(NS_ASSERTION, "Assertion"))
        }
    }
}

fn signature(sig: &Element, parent: &Element) -> Result<(), DsigError> {
    let mut infos = sig.children_named(NS_DSIG, "SignedInfo");
    let info = infos.next().ok_or(DsigError::NoSignedInfo)?;
    if infos.next().is_some() {
        return Err(DsigError::NoSignedInfo);
    }
    let mut c14ns = info.children_named(NS_DSIG, "CanonicalizationMethod");
    let c14n = c14ns.next().ok_or(DsigError::Canonicalization)?;
    if c14ns.next().is_some() || !c14n_ok(c14n) {
        return Err(DsigError::Canonicalization);
    }
    let mut refs = info.children_named(NS_DSIG, "Reference");
    let reference = refs.next().ok_or(DsigError::References)?;
    if refs.next().is_some() {
        return Err(DsigError::References);
    }
    let id = parent.attr("ID").ok_or(DsigError::Uri)?;
    if reference.attr("URI").and_then(|u| u.strip_prefix('#')) != Some(id) {
        return Err(DsigError::Uri);
    }
    let mut transforms = reference.children_named(NS_DSIG, "Transforms");
    if let Some(ts) = transforms.next() {
        if transforms.next().is_some() {
            return Err(DsigError::Transform);
        }
        let (mut enveloped, mut canonical) = (0, 0);
        for t in &ts.children {
            if !t.is(NS_DSIG, "Transform") {
                return Err(DsigError::Transform);
            }
            match t.attr("Algorithm") {
                Some(XSLT) => return Err(DsigError::Xslt),
                Some(ENVELOPED) if t.children.is_empty() => enveloped += 1,
                Some(_) if c14n_ok(t) => canonical += 1,
                _ => return Err(DsigError::Transform),
            }
        }
        if enveloped > 1 || canonical > 1 {
            return Err(DsigError::Transform);
        }
    }
    // Anything else in a Reference (beyond DigestMethod and DigestValue)
    // is not ours to let through.
    if reference.children.iter().any(|c| {
        !(c.ns == NS_DSIG
            && matches!(
                c.name.as_str(),
                "Transforms" | "DigestMethod" | "DigestValue"
            ))
    }) {
        return Err(DsigError::Transform);
    }
    Ok(())
}

/// A canonicalisation method (or transform) we accept, with nothing inside
/// but exclusive c14n's `InclusiveNamespaces`.
fn c14n_ok(el: &Element) -> bool {
    let Some(alg) = el.attr("Algorithm") else {
        return false;
    };
    if !CANONICALISATIONS.contains(&alg) {
        return false;
    }
    el.children.iter().all(|c| {
        (alg == EXC_C14N || alg == EXC_C14N_COMMENTS)
            && c.is(EXC_C14N, "InclusiveNamespaces")
            && c.children.is_empty()
    })
}

/// Nothing inside a signature may be another signature or an indirection.
fn inside_signature(el: &Element) -> Result<(), DsigError> {
    for c in &el.children {
        if c.ns == NS_XSLT {
            return Err(DsigError::Xslt);
        }
        if c.ns == NS_DSIG
            && matches!(
                c.name.as_str(),
                "Signature" | "RetrievalMethod" | "Manifest" | "Object" | "SignatureProperties"
            )
        {
            return Err(if c.name == "Signature" {
                DsigError::Placement
            } else {
                DsigError::Indirection
            });
        }
        inside_signature(c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::decode::parse;
    use super::*;

    fn doc(transforms: &str, c14n: &str) -> String {
        format!(
            r##"<samlp:LogoutRequest xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="_r"><saml:Issuer>x</saml:Issuer><ds:Signature xmlns:ds="{NS_DSIG}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{c14n}"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_r"><ds:Transforms>{transforms}</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>x</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>x</ds:SignatureValue></ds:Signature></samlp:LogoutRequest>"##
        )
    }

    fn t(alg: &str) -> String {
        format!(r#"<ds:Transform Algorithm="{alg}"/>"#)
    }

    #[test]
    fn the_usual_signature_passes() {
        let ok = doc(&(t(ENVELOPED) + &t(EXC_C14N)), EXC_C14N);
        assert_eq!(check(&parse(&ok).unwrap(), Placement::Root), Ok(1));
        let incl = format!(
            r#"<ds:Transform Algorithm="{ENVELOPED}"/><ds:Transform Algorithm="{EXC_C14N}"><ec:InclusiveNamespaces xmlns:ec="{EXC_C14N}" PrefixList="xs"/></ds:Transform>"#
        );
        assert_eq!(
            check(&parse(&doc(&incl, C14N)).unwrap(), Placement::Root),
            Ok(1)
        );
    }

    #[test]
    fn xslt_xpath_and_unknown_transforms_are_refused() {
        let xslt = format!(
            r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"><xsl:stylesheet xmlns:xsl="{NS_XSLT}" version="1.0"/></ds:Transform>"#
        );
        assert_eq!(
            check(&parse(&doc(&xslt, EXC_C14N)).unwrap(), Placement::Root),
            Err(DsigError::Xslt)
        );
        assert_eq!(
            check(&parse(&doc(&t(XSLT), EXC_C14N)).unwrap(), Placement::Root),
            Err(DsigError::Xslt)
        );
        let xpath = r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>1</ds:XPath></ds:Transform>"#.to_string();
        for bad in [
            xpath,
            t("http://www.w3.org/2000/09/xmldsig#base64"),
            t(ENVELOPED) + &t(ENVELOPED),
            t(EXC_C14N) + &t(C14N),
        ] {
            assert_eq!(
                check(&parse(&doc(&bad, EXC_C14N)).unwrap(), Placement::Root),
                Err(DsigError::Transform),
                "{bad}"
            );
        }
        let c14n_xslt = doc(&t(ENVELOPED), XSLT);
        assert_eq!(
            check(&parse(&c14n_xslt).unwrap(), Placement::Root),
            Err(DsigError::Canonicalization)
        );
    }

    #[test]
    fn references_and_placement() {
        let ok = doc(&t(ENVELOPED), EXC_C14N);
        let two = ok.replace(
            "</ds:SignedInfo>",
            r##"<ds:Reference URI="#_r"><ds:DigestMethod Algorithm="x"/></ds:Reference></ds:SignedInfo>"##,
        );
        assert_eq!(
            check(&parse(&two).unwrap(), Placement::Root),
            Err(DsigError::References)
        );
        let other = ok.replace(r##"URI="#_r""##, r##"URI="#_x""##);
        assert_eq!(
            check(&parse(&other).unwrap(), Placement::Root),
            Err(DsigError::Uri)
        );
        let whole = ok.replace(r##"URI="#_r""##, r#"URI="""#);
        assert_eq!(
            check(&parse(&whole).unwrap(), Placement::Root),
            Err(DsigError::Uri)
        );
        let retrieval = ok.replace(
            "<ds:SignatureValue>x</ds:SignatureValue>",
            r#"<ds:SignatureValue>x</ds:SignatureValue><ds:KeyInfo><ds:RetrievalMethod URI="http://x/"/></ds:KeyInfo>"#,
        );
        assert_eq!(
            check(&parse(&retrieval).unwrap(), Placement::Root),
            Err(DsigError::Indirection)
        );
        let nested = ok.replace(
            "<saml:Issuer>x</saml:Issuer>",
            r#"<saml:Issuer>x</saml:Issuer><samlp:Extensions><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></samlp:Extensions>"#,
        );
        assert_eq!(
            check(&parse(&nested).unwrap(), Placement::Root),
            Err(DsigError::Placement)
        );
        let unsigned = format!(r#"<samlp:LogoutRequest xmlns:samlp="{NS_PROTOCOL}" ID="_r"/>"#);
        assert_eq!(check(&parse(&unsigned).unwrap(), Placement::Root), Ok(0));
    }
}
