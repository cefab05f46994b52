//! The LogoutRequest and LogoutResponse decoders as the network feeds it: the HTTP-Redirect value
//! (base64 + bounded inflate), the HTTP-POST value (base64), and the XML
//! itself. Any input must give a value or an error, never a panic or an
//! allocation past the size limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_wire::saml::{
    decode,
    message::{LogoutRequest, LogoutResponse},
};

const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(xml) = decode::redirect_message(text, MAX) {
        let _ = LogoutRequest::parse(&xml);
        let _ = LogoutResponse::parse(&xml);
    }
    if let Ok(xml) = decode::post_message(text, MAX) {
        let _ = LogoutRequest::parse(&xml);
        let _ = LogoutResponse::parse(&xml);
    }
    let _ = LogoutRequest::parse(text);
    let _ = LogoutResponse::parse(text);
});
