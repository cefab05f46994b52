//! Demo data for a new database, so the first start shows something real.

use crate::clock;
use crate::directory::Profile;
use crate::error::Result;
use crate::idp::Idp;
use crate::store::{DemoSeed, NewApplication, NewUser};

/// What seeding did, for the binary to tell the operator once.
#[derive(Debug)]
pub struct Seeded {
    pub email: String,
    /// Set when no password was configured and one was generated.
    pub generated_password: Option<String>,
}

/// Seeds a demo user in group "Staff" with two demo applications, when the
/// database has no user yet and the configuration asks for it.
pub async fn seed_if_new(idp: &Idp) -> Result<Option<Seeded>> {
    let demo = &idp.config.demo;
    if !demo.seed || !idp.store.is_empty().await? {
        return Ok(None);
    }
    let now = clock::now();
    let (password, generated) = match &demo.password {
        Some(p) => (p.clone(), false),
        // Letters and digits from a random token plus a fixed tail that
        // satisfies every default rule.
        None => (
            format!("{}-Aa1!", &crate::crypto::random_token()[..16]),
            true,
        ),
    };
    let hash = idp.hasher.hash(&password).await?;
    let mut profile = Profile::default();
    for (k, v) in [
        ("work_phone", "+1 555 0100"),
        ("work_city", "Porto"),
        ("work_country", "Portugal"),
    ] {
        profile.0.insert(k.into(), v.into());
    }
    let apps = [
        (
            "Team Wiki",
            "Team documentation, how-tos and meeting notes",
            "https://wiki.example.com/",
        ),
        (
            "Expense Reports",
            "Submit receipts and track reimbursements",
            "https://expenses.example.com/",
        ),
    ]
    .map(|(name, description, url)| NewApplication {
        name: name.into(),
        description: description.into(),
        detail_url: Some(format!("{url}about")),
        logo_url: None,
        launch_url: url.into(),
    });
    let user = NewUser {
        email: crate::directory::normalize_email(&demo.email),
        first_name: "Dana".into(),
        last_name: "Reyes".into(),
        username: "dreyes".into(),
        password_hash: Some(hash),
        // So the first start shows the admin console at once.
        admin_role: Some(crate::roles::Role::Admin),
    };
    let seed = DemoSeed {
        user: &user,
        profile: &profile,
        group: "Staff",
        apps: &apps,
    };
    // All or nothing: a start that fails half-way seeds again next time,
    // so the password printed is always that of a complete demo.
    if idp.store.seed_demo(&seed, now).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(Seeded {
        email: user.email,
        generated_password: generated.then_some(password),
    }))
}
