//! The signature-reference checker (`portcullis_wire::saml::dsig::check`) on any
//! document the XML reader accepts, in both placements. Beyond "no panic":
//! a document it accepts has no XSLT element, no RetrievalMethod, Manifest
//! or Object, and every `ds:Transform` names the enveloped-signature
//! transform or a canonicalisation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_wire::saml::decode::{self, Element, Limits};
use portcullis_wire::saml::dsig::{self, Placement};
use portcullis_wire::saml::message::NS_DSIG;

const ALLOWED: [&str; 7] = [
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
    "http://www.w3.org/2006/12/xml-c14n11#WithComments",
];

fn harmless(el: &Element) -> bool {
    if el.ns == "http://www.w3.org/1999/XSL/Transform" {
        return false;
    }
    if el.ns == NS_DSIG {
        match el.name.as_str() {
            "RetrievalMethod" | "Manifest" | "Object" => return false,
            "Transform" | "CanonicalizationMethod"
                if !el.attr("Algorithm").is_some_and(|a| ALLOWED.contains(&a)) =>
            {
                return false;
            }
            _ => {}
        }
    }
    el.children.iter().all(harmless)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(root) = decode::parse_with(text, Limits::RESPONSE) else {
        return;
    };
    for placement in [Placement::Root, Placement::ResponseAndAssertions] {
        if dsig::check(&root, placement).is_ok_and(|n| n > 0) {
            assert!(harmless(&root), "accepted a signature asking for more");
        }
    }
});
