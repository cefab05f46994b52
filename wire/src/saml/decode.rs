//! From the wire to a small element tree: base64, bounded raw inflate
//! (HTTP-Redirect), and an XML reader that refuses any DTD, so no entity,
//! internal or external, is ever declared, let alone resolved. Only the
//! five predefined entities and character references are understood. Depth,
//! element count and size are bounded before anything is allocated for them.
//!
//! [`screen`] is **the** check every SAML input passes before any parser
//! (ours, samael's serde reader, libxml2 under xmlsec) sees it: no DTD, no
//! entity declaration or reference beyond the predefined five, no
//! processing instruction. [`parse`] runs it first; the federation side
//! (Responses, metadata) calls it before handing the text to samael.
//!
//! Everything here is pure and total: any input gives a value or an error.

use std::io::Read;

use base64::Engine;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// Elements nested deeper than this are refused (a SAML request needs ~6).
const MAX_DEPTH: usize = 24;
/// Elements in one message.
const MAX_ELEMENTS: usize = 512;
/// Attributes on one element.
const MAX_ATTRIBUTES: usize = 32;

/// How large a tree [`parse_with`] builds before it refuses the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub depth: usize,
    pub elements: usize,
    pub attributes: usize,
}

impl Limits {
    /// A protocol message an SP sends us (AuthnRequest, LogoutRequest,
    /// LogoutResponse).
    pub const MESSAGE: Limits = Limits {
        depth: MAX_DEPTH,
        elements: MAX_ELEMENTS,
        attributes: MAX_ATTRIBUTES,
    };
    /// A Response from an upstream IdP: assertions carry attribute values
    /// (groups), so more elements, still bounded.
    pub const RESPONSE: Limits = Limits {
        depth: 32,
        elements: 8192,
        attributes: MAX_ATTRIBUTES,
    };
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("the message is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the message is not valid base64")]
    Base64,
    #[error("the message is not valid DEFLATE data")]
    Inflate,
    #[error("the message is not UTF-8 text")]
    NotUtf8,
    #[error("the message declares a DTD, which is not allowed")]
    Dtd,
    #[error("the message carries a processing instruction, which is not allowed")]
    ProcessingInstruction,
    #[error("the message uses an entity other than the XML predefined ones")]
    Entity,
    #[error("the message is not well-formed XML: {0}")]
    Xml(String),
    #[error("the message nests elements too deeply or has too many of them")]
    TooComplex,
}

fn b64(text: &str, max: usize) -> Result<Vec<u8>, DecodeError> {
    // base64 of `max` bytes, plus line breaks some encoders add.
    if text.len() > max / 3 * 4 + max / 32 + 8 {
        return Err(DecodeError::TooLarge(max));
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| DecodeError::Base64)?;
    if bytes.len() > max {
        return Err(DecodeError::TooLarge(max));
    }
    Ok(bytes)
}

/// An HTTP-POST binding value: base64 of the XML.
pub fn post_message(value: &str, max: usize) -> Result<String, DecodeError> {
    String::from_utf8(b64(value, max)?).map_err(|_| DecodeError::NotUtf8)
}

/// An HTTP-Redirect binding value (already URL-decoded): base64 of raw
/// DEFLATE of the XML. Inflating stops at `max` bytes, so a small bomb
/// cannot make a large allocation.
pub fn redirect_message(value: &str, max: usize) -> Result<String, DecodeError> {
    let compressed = b64(value, max)?;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(compressed.as_slice())
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| DecodeError::Inflate)?;
    if out.len() > max {
        return Err(DecodeError::TooLarge(max));
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

/// One element: namespace URI, local name, attributes (unprefixed names, or
/// `{ns}local` for namespaced ones), child elements and text.
#[derive(Debug, Clone, Default)]
pub struct Element {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// Every `ID` attribute in the tree (for uniqueness checks).
    pub fn ids<'a>(&'a self, out: &mut Vec<&'a str>) {
        if let Some(id) = self.attr("ID") {
            out.push(id);
        }
        for c in &self.children {
            c.ids(out);
        }
    }
}

fn xml_err(e: impl std::fmt::Display) -> DecodeError {
    let mut s = e.to_string();
    // The reader's message may quote the input, so byte 200 can fall inside
    // a character (`truncate` panics there; the fuzzer found it).
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    DecodeError::Xml(s)
}

fn ns_of(r: &ResolveResult<'_>) -> Result<String, DecodeError> {
    match r {
        ResolveResult::Bound(ns) => Ok(String::from_utf8_lossy(ns.as_ref()).into_owned()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(p) => Err(DecodeError::Xml(format!(
            "unknown namespace prefix {:?}",
            String::from_utf8_lossy(p)
        ))),
    }
}

/// Refuses an entity reference other than a character reference or one of
/// the five predefined entities.
fn predefined_or_char(r: &quick_xml::events::BytesRef<'_>) -> Result<(), DecodeError> {
    if r.is_char_ref() {
        return Ok(());
    }
    match r.decode().map_err(xml_err)?.as_ref() {
        "amp" | "lt" | "gt" | "quot" | "apos" => Ok(()),
        _ => Err(DecodeError::Entity),
    }
}

/// The one check of every SAML input, before anything parses it for
/// meaning: refuses a DTD (and with it every entity declaration), an
/// entity reference other than the five predefined ones (in text or in an
/// attribute), a processing instruction, and an XML declaration anywhere
/// but at the very start. Linear in the input; allocates nothing per
/// element.
pub fn screen(xml: &str) -> Result<(), DecodeError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = false;
    let mut first = true;
    loop {
        let event = reader.read_event().map_err(xml_err)?;
        match event {
            Event::DocType(_) => return Err(DecodeError::Dtd),
            Event::PI(_) => return Err(DecodeError::ProcessingInstruction),
            Event::Decl(_) if !first => {
                return Err(DecodeError::Xml(
                    "an XML declaration after the start of the document".into(),
                ));
            }
            Event::GeneralRef(r) => predefined_or_char(&r)?,
            Event::Start(ref e) | Event::Empty(ref e) => {
                for a in e.attributes().with_checks(false) {
                    let a = a.map_err(xml_err)?;
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| match e {
                            quick_xml::Error::Escape(_) => DecodeError::Entity,
                            other => xml_err(other),
                        })?;
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        first = false;
    }
}

/// Parses a whole protocol message into its root element ([`Limits::MESSAGE`]).
pub fn parse(xml: &str) -> Result<Element, DecodeError> {
    parse_with(xml, Limits::MESSAGE)
}

/// Parses a whole document into its root element, after [`screen`].
pub fn parse_with(xml: &str, limits: Limits) -> Result<Element, DecodeError> {
    screen(xml)?;
    let mut reader = quick_xml::NsReader::from_str(xml);
    let cfg = reader.config_mut();
    cfg.check_end_names = true;
    cfg.expand_empty_elements = false;
    cfg.trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let (resolved, event) = reader.read_resolved_event().map_err(xml_err)?;
        let ns = ns_of(&resolved);
        match event {
            Event::DocType(_) => return Err(DecodeError::Dtd),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let ns = ns?;
                if root.is_some() {
                    return Err(DecodeError::Xml("content after the root element".into()));
                }
                count += 1;
                if count > limits.elements || stack.len() >= limits.depth {
                    return Err(DecodeError::TooComplex);
                }
                let mut el = Element {
                    ns,
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Default::default()
                };
                for a in e.attributes() {
                    let a = a.map_err(xml_err)?;
                    let key = a.key;
                    if key.as_ref() == b"xmlns" || key.as_ref().starts_with(b"xmlns:") {
                        continue;
                    }
                    if el.attrs.len() >= limits.attributes {
                        return Err(DecodeError::TooComplex);
                    }
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| match e {
                            quick_xml::Error::Escape(_) => DecodeError::Entity,
                            other => xml_err(other),
                        })?;
                    let (ans, local) = reader.resolver().resolve_attribute(key);
                    let ans = ns_of(&ans)?;
                    let local = String::from_utf8_lossy(local.as_ref()).into_owned();
                    let name = if ans.is_empty() {
                        local
                    } else {
                        format!("{{{ans}}}{local}")
                    };
                    if el.attrs.iter().any(|(k, _)| *k == name) {
                        return Err(DecodeError::Xml(format!("attribute {name} repeated")));
                    }
                    el.attrs.push((name, value.into_owned()));
                }
                if matches!(event, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => root = Some(el),
                    }
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| DecodeError::Xml("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t.xml10_content().map_err(xml_err)?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(DecodeError::Xml("text outside the root element".into())),
                }
            }
            Event::CData(t) => {
                let s = t.decode().map_err(xml_err)?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None => return Err(DecodeError::Xml("text outside the root element".into())),
                }
            }
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref().map_err(xml_err)?
                } else {
                    match r.decode().map_err(xml_err)?.as_ref() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => return Err(DecodeError::Entity),
                    }
                };
                let c = c.ok_or(DecodeError::Entity)?;
                match stack.last_mut() {
                    Some(el) => el.text.push(c),
                    None => return Err(DecodeError::Xml("text outside the root element".into())),
                }
            }
            // Comments and the XML declaration carry nothing we read;
            // processing instructions have no business in a SAML message.
            Event::Comment(_) | Event::Decl(_) => {}
            Event::PI(_) => return Err(DecodeError::ProcessingInstruction),
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(DecodeError::Xml(
            "the document ends inside an element".into(),
        ));
    }
    let root = root.ok_or_else(|| DecodeError::Xml("no root element".into()))?;
    let mut ids = Vec::new();
    root.ids(&mut ids);
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != ids.len() {
        // A second element with the same ID is how signature wrapping starts.
        return Err(DecodeError::Xml("an ID is used twice".into()));
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_error_is_cut_on_a_character_boundary() {
        let DecodeError::Xml(m) = xml_err(format!("{}é and more", "a".repeat(199))) else {
            unreachable!()
        };
        assert_eq!(m, "a".repeat(199));
        // The document the fuzzer found is a seed of the logout_request
        // target (fuzz/seeds/logout_request/regression-*).
    }

    #[test]
    fn refuses_dtds_and_unknown_entities() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert_eq!(parse(xxe).unwrap_err(), DecodeError::Dtd);
        assert_eq!(parse("<r>&x;</r>").unwrap_err(), DecodeError::Entity);
        assert_eq!(parse(r#"<r a="&x;"/>"#).unwrap_err(), DecodeError::Entity);
        let r = parse("<r a=\"&lt;&#65;\">&amp;&#x42;<![CDATA[<c>]]></r>").unwrap();
        assert_eq!(r.attr("a"), Some("<A"));
        assert_eq!(r.text, "&B<c>");
    }

    #[test]
    fn refuses_malformed_and_deep_documents() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "text",
            "<a><?pi x?></a>",
            "<p:a/>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(parse(&deep).unwrap_err(), DecodeError::TooComplex);
        assert!(parse(r#"<a ID="x"><b ID="x"/></a>"#).is_err());
    }

    #[test]
    fn namespaces_resolve() {
        let r =
            parse(r#"<p:a xmlns:p="urn:p" xmlns:q="urn:q" q:x="1" y="2"><q:b/></p:a>"#).unwrap();
        assert!(r.is("urn:p", "a"));
        assert_eq!(r.attr("{urn:q}x"), Some("1"));
        assert_eq!(r.attr("y"), Some("2"));
        assert!(r.child("urn:q", "b").is_some());
    }

    #[test]
    fn inflate_is_bounded() {
        use std::io::Write;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![b'a'; 1_000_000]).unwrap();
        let bomb = base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap());
        assert_eq!(
            redirect_message(&bomb, 65536).unwrap_err(),
            DecodeError::TooLarge(65536)
        );
        assert_eq!(
            redirect_message("!!!", 65536).unwrap_err(),
            DecodeError::Base64
        );
        assert_eq!(
            redirect_message("AAAA", 65536).unwrap_err(),
            DecodeError::Inflate
        );
        assert_eq!(
            post_message(&"A".repeat(200_000), 65536).unwrap_err(),
            DecodeError::TooLarge(65536)
        );
    }
}
