//! The one escaper for the markup Portcullis writes by hand: HTML pages
//! outside the templates (the gateway's, the handshake's) and the XML of
//! SAML messages. The same five characters are special in both; characters
//! XML 1.0 cannot carry at all are dropped, which costs HTML nothing.

/// `s` safe as element text or a quoted attribute value, in HTML or XML.
pub fn markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_five_and_what_xml_cannot_carry() {
        assert_eq!(
            super::markup("a<b>&\"'\u{1}\tz"),
            "a&lt;b&gt;&amp;&quot;&apos;\tz"
        );
    }
}
