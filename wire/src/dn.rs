//! Distinguished names (RFC 4514), as far as this directory needs them:
//! single-valued RDNs, the string escapes, and comparison that ignores the
//! case of attribute names and values (every naming attribute here matches
//! case-insensitively).

use std::fmt;

/// A parsed DN, most specific RDN first. Attribute names are lower-cased;
/// values are unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn {
    pub rdns: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnError {
    #[error("an RDN has no '='")]
    NoEquals,
    #[error("an RDN has an empty attribute name")]
    EmptyAttribute,
    #[error("multi-valued RDNs ('+') are not supported")]
    MultiValued,
    #[error("a backslash escape is incomplete or invalid")]
    BadEscape,
    #[error("a value is not UTF-8")]
    NotUtf8,
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Dn {
    /// Parses a DN string; the empty string is the root (no RDN).
    pub fn parse(s: &str) -> Result<Self, DnError> {
        let bytes = s.as_bytes();
        let mut rdns = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self { rdns });
        }
        let (mut attr, mut value) = (Vec::new(), Vec::new());
        let mut in_value = false;
        // The value's length up to its last escaped byte: spaces around a
        // value are insignificant unless escaped (RFC 4514 §2.4).
        let mut kept = 0;
        let mut i = 0;
        let finish = |attr: &mut Vec<u8>, value: &mut Vec<u8>, kept: usize, in_value: bool| {
            if !in_value {
                return Err(DnError::NoEquals);
            }
            while value.len() > kept && value.last() == Some(&b' ') {
                value.pop();
            }
            let a = String::from_utf8(std::mem::take(attr)).map_err(|_| DnError::NotUtf8)?;
            let v = String::from_utf8(std::mem::take(value)).map_err(|_| DnError::NotUtf8)?;
            let a = a.trim().to_ascii_lowercase();
            if a.is_empty() {
                return Err(DnError::EmptyAttribute);
            }
            Ok((a, v))
        };
        while i < bytes.len() {
            let c = bytes[i];
            match c {
                b'\\' => {
                    if !in_value {
                        return Err(DnError::NoEquals);
                    }
                    let next = *bytes.get(i + 1).ok_or(DnError::BadEscape)?;
                    if let (Some(h), Some(l)) = (hex(next), bytes.get(i + 2).and_then(|b| hex(*b)))
                    {
                        value.push(h * 16 + l);
                        i += 3;
                    } else if b" ,=+<>#;\\\"".contains(&next) {
                        value.push(next);
                        i += 2;
                    } else {
                        return Err(DnError::BadEscape);
                    }
                    kept = value.len();
                    continue;
                }
                b',' | b';' => {
                    rdns.push(finish(&mut attr, &mut value, kept, in_value)?);
                    in_value = false;
                    kept = 0;
                }
                b'+' if in_value => return Err(DnError::MultiValued),
                b'=' if !in_value => in_value = true,
                b' ' if in_value && value.is_empty() => {}
                _ if in_value => value.push(c),
                _ => attr.push(c),
            }
            i += 1;
        }
        rdns.push(finish(&mut attr, &mut value, kept, in_value)?);
        Ok(Self { rdns })
    }

    /// Whether `self` is `base` or below it.
    pub fn is_within(&self, base: &Dn) -> bool {
        self.rdns.len() >= base.rdns.len()
            && self.rdns[self.rdns.len() - base.rdns.len()..]
                .iter()
                .zip(&base.rdns)
                .all(|(a, b)| same_rdn(a, b))
    }

    /// The RDNs above `base`, most specific first, when `self` is within it.
    pub fn relative_to(&self, base: &Dn) -> Option<&[(String, String)]> {
        self.is_within(base)
            .then(|| &self.rdns[..self.rdns.len() - base.rdns.len()])
    }

    /// `rdn_attr=value,<base>`.
    pub fn child(base: &Dn, attr: &str, value: &str) -> Dn {
        let mut rdns = vec![(attr.to_ascii_lowercase(), value.to_string())];
        rdns.extend(base.rdns.iter().cloned());
        Dn { rdns }
    }

    pub fn same(&self, other: &Dn) -> bool {
        self.rdns.len() == other.rdns.len()
            && self
                .rdns
                .iter()
                .zip(&other.rdns)
                .all(|(a, b)| same_rdn(a, b))
    }
}

fn same_rdn(a: &(String, String), b: &(String, String)) -> bool {
    a.0 == b.0 && a.1.to_lowercase() == b.1.to_lowercase()
}

/// A value escaped for the string form of a DN.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, v)) in self.rdns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{a}={}", escape(v))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_escapes_and_round_trips() {
        let dn = Dn::parse("mail=a\\+b@example.com, OU=users ,dc=example,dc=com").unwrap();
        assert_eq!(dn.rdns[0], ("mail".into(), "a+b@example.com".into()));
        assert_eq!(dn.rdns[1], ("ou".into(), "users".into()));
        assert_eq!(
            dn.to_string(),
            "mail=a\\+b@example.com,ou=users,dc=example,dc=com"
        );
        let hexed = Dn::parse("cn=caf\\c3\\a9,dc=x").unwrap();
        assert_eq!(hexed.rdns[0].1, "café");
        for odd in [" #a,b=c\\ ", "\t", "a\u{0}b", "  two  "] {
            let dn = Dn::parse(&format!("cn={},dc=x", escape(odd))).unwrap();
            assert_eq!(dn.rdns[0].1, odd, "{odd:?} round trips");
        }
        assert_eq!(Dn::parse("cn=  padded  ,dc=x").unwrap().rdns[0].1, "padded");
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert_eq!(Dn::parse("cn=a+sn=b,dc=x"), Err(DnError::MultiValued));
        assert_eq!(Dn::parse("nonsense"), Err(DnError::NoEquals));
        assert_eq!(Dn::parse("cn=a\\"), Err(DnError::BadEscape));
        assert_eq!(Dn::parse("=a"), Err(DnError::EmptyAttribute));
        assert_eq!(Dn::parse("").unwrap().rdns.len(), 0);
    }

    #[test]
    fn containment_ignores_case() {
        let base = Dn::parse("dc=Example,dc=com").unwrap();
        let dn = Dn::parse("cn=X,OU=Groups,DC=example,DC=COM").unwrap();
        assert!(dn.is_within(&base));
        assert_eq!(dn.relative_to(&base).unwrap().len(), 2);
        assert!(!Dn::parse("dc=other,dc=com").unwrap().is_within(&base));
        assert!(!base.is_within(&dn));
    }
}
