//! The LDAP engine's DN reader as the network feeds it (bind names, search
//! bases, compare targets): any input gives a DN or an error, never a panic,
//! and a DN it reads prints back to a string it reads the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_wire::dn::Dn;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(dn) = Dn::parse(text) {
        let printed = dn.to_string();
        let again = Dn::parse(&printed).expect("a printed DN parses");
        assert!(again.same(&dn), "{text:?} -> {printed:?}");
        let base = Dn::parse("dc=example,dc=com").expect("the base parses");
        let _ = dn.relative_to(&base);
    }
});
