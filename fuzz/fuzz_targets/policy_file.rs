//! The policy file loader (`portcullis::policy::parse`): TOML from the
//! operator to a validated policy. For any input: no panic, and an accepted
//! policy keeps the path rule's promises: its prefix and every `[[paths]]`
//! rule are in the normal form requests are decided on (so a rule can be
//! matched at all), the prefix has no trailing slash, and the rules are
//! ordered longest first (so the most specific rule wins).
#![no_main]

use std::path::Path;

use idp::request_path::{PathOptions, normalize};
use libfuzzer_sys::fuzz_target;
use portcullis::config::ServerConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let server = ServerConfig::default();
    let Ok(policy) = portcullis::policy::parse(Path::new("fuzz.toml"), text, &server) else {
        return;
    };
    let normal = |p: &str| normalize(p, PathOptions { parameters: true }).is_ok_and(|n| n == p);
    assert!(
        normal(&policy.path_prefix),
        "prefix {:?}",
        policy.path_prefix
    );
    assert!(
        policy.path_prefix == "/" || !policy.path_prefix.ends_with('/'),
        "prefix {:?}",
        policy.path_prefix
    );
    for (rule, _) in &policy.paths {
        assert!(normal(rule), "rule {rule:?} is not in normal form");
    }
    for pair in policy.paths.windows(2) {
        assert!(
            pair[0].0.len() >= pair[1].0.len(),
            "rules not longest first: {:?}",
            policy.paths
        );
    }
    assert!(!policy.upstreams.is_empty(), "a policy with no upstream");
});
