//! The federation SP's first look at a posted Response
//! (`portcullis_wire::saml::screen_response`: the one screen for DTDs,
//! entities and processing instructions, the bounded reader, the root and
//! the signature-reference checker), on raw XML and on the POST binding's
//! base64. Beyond "no panic": nothing it accepts carries a DOCTYPE or a
//! processing instruction.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_wire::saml::screen_response;

fn check(xml: &str) {
    // Comments and CDATA may carry the same characters as text.
    if screen_response(xml).is_ok() && !xml.contains("<!--") && !xml.contains("<![CDATA[") {
        assert!(!xml.contains("<!DOCTYPE") && !xml.contains("<!ENTITY"));
        // `<?xml ...?>` is allowed only as the declaration at the start.
        let rest = xml
            .strip_prefix("<?xml")
            .map_or(xml, |r| r.split_once("?>").map_or("", |(_, b)| b));
        assert!(!rest.contains("<?"), "a processing instruction got through");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(text);
    if let Ok(xml) = portcullis_wire::saml::decode::post_message(text, 256 * 1024) {
        check(&xml);
    }
});
