//! The AuthnRequest decoder as the network feeds it: the HTTP-Redirect value
//! (base64 + bounded inflate), the HTTP-POST value (base64), and the XML
//! itself. Any input must give a value or an error, never a panic or an
//! allocation past the size limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_wire::saml::{decode, message::AuthnRequest};

const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(xml) = decode::redirect_message(text, MAX) {
        let _ = AuthnRequest::parse(&xml);
    }
    if let Ok(xml) = decode::post_message(text, MAX) {
        let _ = AuthnRequest::parse(&xml);
    }
    let _ = AuthnRequest::parse(text);
});
