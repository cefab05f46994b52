//! A mail on every change to the ways into an account (password changed,
//! authenticator app added or removed), to the company address and,
//! separately, the recovery address; none for a change that was refused.
//! The outbox transport writes each message as a file, as in reset.rs;
//! TOTP codes come from Debian's `oathtool`.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use axum::http::StatusCode;
use support::{Browser, DEMO_PASSWORD, Kit, kit};

const NEW_PASSWORD: &str = "Quiet-Orchard-4172!";
const RECOVERY: &str = "dana.home@example.net";

fn oath(secret: &str) -> String {
    let out = Command::new("oathtool")
        .args([
            "--totp",
            "-b",
            secret,
            "-N",
            &format!("@{}", idp::clock::now()),
        ])
        .output()
        .expect("oathtool is installed (scripts/install-deps.sh test)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The security-change messages in the outbox, oldest first, with
/// quoted-printable soft breaks undone.
fn notices(k: &Kit) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(k.idp.config.outbox_dir()) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .replace("=\r\n", "")
                .replace("=3D", "=")
        })
        .filter(|m| m.contains("A security change on your Portcullis account"))
        .collect()
}

/// Waits until the outbox holds `n` notices (the sender is a background task).
async fn wait_notices(k: &Kit, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = notices(k);
        if m.len() >= n {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {n} notices, found {}",
            m.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn set_recovery_email(k: &Kit) {
    let user = k.demo_user().await;
    let mut profile = user.profile.clone();
    profile.0.insert("recovery_email".into(), RECOVERY.into());
    k.idp
        .store
        .update_profile(
            &user.id,
            &user.first_name,
            &user.last_name,
            &user.username,
            &profile,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_password_change_is_mailed_to_both_addresses_and_a_refused_one_is_not() {
    let k = kit().await;
    set_recovery_email(&k).await;
    let mut b = k.browser_from("192.0.2.81");
    let res = b.sign_in(support::DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(res.location(), Some("/apps"));
    b.get("/security").await;
    let refused = b
        .post(
            "/security/password",
            &[
                ("current_password", "not it"),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let done = b
        .post(
            "/security/password",
            &[
                ("current_password", DEMO_PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let m = wait_notices(&k, 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        notices(&k).len(),
        2,
        "one per address; none for the refusal"
    );
    let to_company = m
        .iter()
        .find(|m| m.contains("To: demo@example.com"))
        .unwrap();
    let to_recovery = m
        .iter()
        .find(|m| m.contains(&format!("To: {RECOVERY}")))
        .unwrap();
    for mail in [to_company, to_recovery] {
        assert!(mail.contains("Your password was changed"), "{mail}");
        assert!(mail.contains("192.0.2.81"));
        assert!(mail.contains("/security"));
        assert!(!mail.contains(NEW_PASSWORD), "no secret in a mail");
    }
    assert!(!to_company.contains(RECOVERY), "each address alone");
}

async fn enrol_totp(b: &mut Browser) -> String {
    b.get("/mfa/totp/setup").await;
    b.post("/mfa/totp/setup", &[]).await;
    let scan = b.get("/mfa/totp/setup/scan").await;
    let i = scan.body.find("<code id=\"totp-key\">").unwrap() + "<code id=\"totp-key\">".len();
    let key = scan.body[i..].split('<').next().unwrap().replace(' ', "");
    b.get("/mfa/totp/setup/confirm").await;
    let wrong = b
        .post("/mfa/totp/setup/confirm", &[("code", "000000")])
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let ok = b
        .post("/mfa/totp/setup/confirm", &[("code", &oath(&key))])
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    key
}

#[tokio::test]
async fn adding_and_removing_the_authenticator_app_are_mailed() {
    let k = kit().await;
    let mut b = k.signed_in().await;
    enrol_totp(&mut b).await;
    let m = wait_notices(&k, 1).await;
    assert!(
        m[0].contains("An authenticator app was set up as a second factor"),
        "{}",
        m[0]
    );
    assert_eq!(m.len(), 1, "the wrong code sent nothing");

    b.get("/security").await;
    let refused = b
        .post("/security/totp/remove", &[("password", "not it")])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let removed = b
        .post("/security/totp/remove", &[("password", DEMO_PASSWORD)])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    let m = wait_notices(&k, 2).await;
    assert!(m[1].contains("The authenticator app was removed as a second factor"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(notices(&k).len(), 2);
}
