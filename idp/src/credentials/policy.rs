use crate::settings::PasswordPolicy;

/// One rule of the policy for the live checklist beside a new-password
/// field: the words, and what the page's script needs to tick it as the
/// user types. The script only helps; [`check_policy`] stays the judge.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChecklistRule {
    pub text: String,
    /// `min`, `upper`, `lower`, `digit`, `special`, `identity`, or
    /// `history` (which only the server can check, so it is never ticked).
    pub kind: &'static str,
    /// `min`: the length; `identity`: the lower-cased identifiers a
    /// password must not contain, one per line.
    pub value: String,
}

/// The rules as people read them, each with how to check it, in the order
/// [`check_policy`] reports them. `identifiers` are the user's own (their
/// username and email name), which the page may show back to them.
pub fn policy_checklist(p: &PasswordPolicy, identifiers: &[&str]) -> Vec<ChecklistRule> {
    let rule = |text: String, kind, value: String| ChecklistRule { text, kind, value };
    let mut rules = vec![rule(
        format!("At least {} characters", p.min_length),
        "min",
        p.min_length.to_string(),
    )];
    for (on, text, kind) in [
        (p.require_upper, "An upper-case letter", "upper"),
        (p.require_lower, "A lower-case letter", "lower"),
        (p.require_digit, "A digit", "digit"),
        (
            p.require_special,
            "A special character such as ! # % or *",
            "special",
        ),
    ] {
        if on {
            rules.push(rule(text.into(), kind, String::new()));
        }
    }
    let ids: Vec<String> = identifiers
        .iter()
        .map(|s| s.trim().to_lowercase())
        .filter(|id| id.chars().count() >= 3)
        .collect();
    rules.push(rule(
        "Does not contain your username or email name".into(),
        "identity",
        ids.join("\n"),
    ));
    if p.history > 0 {
        rules.push(rule(
            format!("Not one of your last {} passwords", p.history),
            "history",
            String::new(),
        ));
    }
    rules
}

/// The rules as people read them, for the Security page.
pub fn policy_rules(p: &PasswordPolicy) -> Vec<String> {
    policy_checklist(p, &[])
        .into_iter()
        .map(|r| r.text)
        .collect()
}

/// Every rule the password breaks (history is checked by the caller, which
/// has to verify hashes). Empty means acceptable.
pub fn check_policy(p: &PasswordPolicy, password: &str, identifiers: &[&str]) -> Vec<String> {
    let mut unmet = Vec::new();
    if password.chars().count() < p.min_length {
        unmet.push(format!("Use at least {} characters.", p.min_length));
    }
    if password.chars().count() > 256 {
        unmet.push("Use at most 256 characters.".into());
    }
    if p.require_upper && !password.chars().any(char::is_uppercase) {
        unmet.push("Add an upper-case letter.".into());
    }
    if p.require_lower && !password.chars().any(char::is_lowercase) {
        unmet.push("Add a lower-case letter.".into());
    }
    if p.require_digit && !password.chars().any(|c| c.is_ascii_digit()) {
        unmet.push("Add a digit.".into());
    }
    if p.require_special
        && !password
            .chars()
            .any(|c| !c.is_alphanumeric() && !c.is_whitespace())
    {
        unmet.push("Add a special character.".into());
    }
    let lower = password.to_lowercase();
    if identifiers
        .iter()
        .map(|s| s.trim().to_lowercase())
        .any(|id| id.chars().count() >= 3 && lower.contains(&id))
    {
        unmet.push("Do not include your username or email name.".into());
    }
    unmet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_is_reported_on_its_own() {
        let p = PasswordPolicy::default();
        let ids = ["dreyes", "dana"];
        assert!(check_policy(&p, "Tr0ub4dor&3-horse", &ids).is_empty());
        let cases = [
            ("Sh0rt!a", "at least 12"),
            ("all-lower-case-1", "upper-case"),
            ("ALL-UPPER-CASE-1", "lower-case"),
            ("No-Digits-Here!!", "digit"),
            ("NoSpecials123456", "special"),
            ("Xx1!dreyes-secret", "username"),
            ("Xx1!DANA-secret-9", "username"),
        ];
        for (pw, expect) in cases {
            let unmet = check_policy(&p, pw, &ids);
            assert_eq!(unmet.len(), 1, "{pw}: {unmet:?}");
            assert!(unmet[0].contains(expect), "{pw}: {unmet:?}");
        }
        assert_eq!(check_policy(&p, "abc", &ids).len(), 4);
    }

    #[test]
    fn relaxed_policy() {
        let p = PasswordPolicy {
            min_length: 8,
            require_upper: false,
            require_lower: false,
            require_digit: false,
            require_special: false,
            history: 0,
            max_age_days: 0,
        };
        assert!(check_policy(&p, "abcdefgh", &[]).is_empty());
        assert_eq!(policy_rules(&p).len(), 2);
    }
}
