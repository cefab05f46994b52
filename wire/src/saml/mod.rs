//! SAML input: the transport decoders and the DTD-refusing reader
//! ([`decode`]), the signature-reference checker run before xmlsec
//! ([`dsig`]), the messages the IdP receives ([`message`]), and the
//! federation SP's first look at a posted Response ([`screen_response`]).

pub mod decode;
pub mod dsig;
pub mod message;

use decode::Limits;
use dsig::Placement;
use message::NS_PROTOCOL;

/// What every posted Response passes before samael or xmlsec see it: the
/// one screen (no DTD, entity or processing instruction), a bounded tree,
/// a `<samlp:Response>` root, and signatures only on the Response and its
/// assertions, each asking only for the enveloped-signature transform and
/// canonicalisation ([`dsig`]).
pub fn screen_response(xml: &str) -> Result<decode::Element, String> {
    let root = decode::parse_with(xml, Limits::RESPONSE)
        .map_err(|e| format!("SAMLResponse refused: {e}"))?;
    if !root.is(NS_PROTOCOL, "Response") {
        return Err("SAMLResponse is not a SAML Response".into());
    }
    dsig::check(&root, Placement::ResponseAndAssertions)
        .map_err(|e| format!("SAMLResponse signature refused: {e}"))?;
    Ok(root)
}
