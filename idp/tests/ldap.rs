//! The LDAP interface through a real TCP connection to its listener, driven
//! by the `ldap3` client crate: binds (user, service account, anonymous,
//! TOTP), the shared lockout, what each identity reads, filters, paging,
//! whoami, the StartTLS requirement and the message bound. Each runs on
//! SQLite, or on PostgreSQL with PORTCULLIS_TEST_DATABASE=postgres.

mod support;

use std::collections::HashSet;
use std::process::Command;

use idp::ldap::listener::{Kind, Running};
use ldap3::{LdapConnAsync, Scope, SearchEntry, adapters::PagedResults};
use support::{DEMO_EMAIL, DEMO_PASSWORD, Kit, kit_with};

const BASE: &str = "dc=example,dc=com";
const DEMO_DN: &str = "mail=demo@example.com,ou=users,dc=example,dc=com";
const BOB: &str = "bob@example.com";
const BOB_DN: &str = "mail=bob@example.com,ou=users,dc=example,dc=com";
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1A577fUs5kM0MTW8CYwItCdVbAPb4AeMp1RKAGzzYF alice@laptop";

// Result codes (RFC 4511 appendix A).
const INVALID_CREDENTIALS: u32 = 49;
const INAPPROPRIATE_AUTH: u32 = 48;
const UNWILLING: u32 = 53;
const NO_SUCH_OBJECT: u32 = 32;
const CONFIDENTIALITY_REQUIRED: u32 = 13;
const INSUFFICIENT_ACCESS: u32 = 50;

struct Directory {
    k: Kit,
    ldap: Running,
}

impl Directory {
    fn url(&self) -> String {
        format!("ldap://{}", self.ldap.addr(Kind::Plain).unwrap())
    }

    async fn conn(&self) -> ldap3::Ldap {
        let (conn, ldap) = LdapConnAsync::new(&self.url()).await.unwrap();
        ldap3::drive!(conn);
        ldap
    }

    /// A connection bound as `dn`, or the bind's result code.
    async fn bind(&self, dn: &str, pw: &str) -> Result<ldap3::Ldap, u32> {
        let mut ldap = self.conn().await;
        let res = ldap.simple_bind(dn, pw).await.unwrap();
        if res.rc == 0 { Ok(ldap) } else { Err(res.rc) }
    }

    async fn service(&self, name: &str, grants: &str) -> (String, String) {
        let a = idp::admin::ldap_accounts::add(&self.k.idp, &support::admin_actor(), name, grants)
            .await
            .unwrap();
        (a.bind_dn, a.key)
    }
}

async fn directory(adjust: impl FnOnce(&mut idp::ldap::LdapConfig)) -> Directory {
    let k = kit_with(|c| {
        c.ldap.base_dn = BASE.into();
        c.ldap.plain_listen = Some("127.0.0.1:0".parse().unwrap());
        c.ldap.allow_plain = true;
        c.ldap.posix = true;
        adjust(&mut c.ldap);
    })
    .await;
    idp::admin::users::add(
        &k.idp,
        &support::admin_actor(),
        idp::admin::users::NewUser {
            email: BOB.into(),
            first_name: "Bob".into(),
            last_name: "Stone".into(),
            password: Some(DEMO_PASSWORD.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let engine = idp::ldap::Engine::new(k.idp.clone()).unwrap();
    let tls = if k.idp.config.ldap.starttls.is_some() {
        Some(self_signed())
    } else {
        None
    };
    let ldap = idp::ldap::listener::start(engine, tls).await.unwrap();
    Directory { k, ldap }
}

fn self_signed() -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls;
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}

async fn search(
    ldap: &mut ldap3::Ldap,
    base: &str,
    filter: &str,
    attrs: &[&str],
) -> Result<Vec<SearchEntry>, u32> {
    let res = ldap
        .search(base, Scope::Subtree, filter, attrs.to_vec())
        .await
        .unwrap();
    if res.1.rc != 0 {
        return Err(res.1.rc);
    }
    Ok(res.0.into_iter().map(SearchEntry::construct).collect())
}

fn attr<'a>(e: &'a SearchEntry, name: &str) -> Vec<&'a str> {
    e.attrs
        .get(name)
        .map(|v| v.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

fn by_dn<'a>(entries: &'a [SearchEntry], dn: &str) -> Option<&'a SearchEntry> {
    entries.iter().find(|e| e.dn == dn)
}

async fn whoami(ldap: &mut ldap3::Ldap) -> String {
    let (exop, res) = ldap
        .extended(ldap3::exop::WhoAmI)
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(res.rc, 0);
    exop.val
        .map(|v| String::from_utf8(v).unwrap())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_user_binds_with_their_password_and_not_with_a_wrong_one() {
    let d = directory(|_| {}).await;
    let mut ldap = d.bind(DEMO_DN, DEMO_PASSWORD).await.unwrap();
    assert_eq!(whoami(&mut ldap).await, format!("dn:{DEMO_DN}"));
    // The bare email and the uid form name the same account.
    assert!(d.bind(DEMO_EMAIL, DEMO_PASSWORD).await.is_ok());
    assert!(
        d.bind("uid=bob,ou=users,dc=example,dc=com", DEMO_PASSWORD)
            .await
            .is_ok()
    );

    assert_eq!(
        d.bind(DEMO_DN, "Wrong-Passw0rd!").await.err(),
        Some(INVALID_CREDENTIALS)
    );
    assert_eq!(
        d.bind(
            "mail=nobody@example.com,ou=users,dc=example,dc=com",
            DEMO_PASSWORD
        )
        .await
        .err(),
        Some(INVALID_CREDENTIALS),
        "an unknown account answers like a wrong password"
    );
    // A DN with no password is an unauthenticated bind: never a success.
    assert_eq!(d.bind(DEMO_DN, "").await.err(), Some(UNWILLING));
    let events = d.k.audit_events().await;
    assert!(
        events
            .iter()
            .any(|(e, o)| e == "ldap.bind" && o == "success")
    );
    assert!(
        events
            .iter()
            .any(|(e, o)| e == "ldap.bind" && o == "failure")
    );
}

#[tokio::test]
async fn wrong_binds_count_toward_the_portal_lockout() {
    let d = directory(|_| {}).await;
    d.k.set("lockout.mode", "hard").await;
    d.k.set("lockout.threshold", "3").await;
    for _ in 0..3 {
        assert_eq!(
            d.bind(DEMO_DN, "Wrong-Passw0rd!").await.err(),
            Some(INVALID_CREDENTIALS)
        );
    }
    // Locked by LDAP binds: the portal refuses the right password too...
    let portal =
        d.k.idp
            .sign_in(DEMO_EMAIL, DEMO_PASSWORD, None)
            .await
            .unwrap();
    assert!(
        matches!(portal, idp::sign_in::SignIn::Locked(_)),
        "{portal:?}"
    );
    // ...and so does LDAP, while another account still binds.
    assert_eq!(
        d.bind(DEMO_DN, DEMO_PASSWORD).await.err(),
        Some(INVALID_CREDENTIALS)
    );
    assert!(d.bind(BOB_DN, DEMO_PASSWORD).await.is_ok());
}

#[tokio::test]
async fn locked_and_deleted_users_cannot_bind_and_a_new_password_counts_at_once() {
    let d = directory(|_| {}).await;
    let actor = support::admin_actor();
    assert!(d.bind(BOB_DN, DEMO_PASSWORD).await.is_ok());
    idp::admin::users::lock(&d.k.idp, &actor, BOB)
        .await
        .unwrap();
    assert_eq!(
        d.bind(BOB_DN, DEMO_PASSWORD).await.err(),
        Some(INVALID_CREDENTIALS)
    );
    idp::admin::users::unlock(&d.k.idp, &actor, BOB)
        .await
        .unwrap();
    assert!(d.bind(BOB_DN, DEMO_PASSWORD).await.is_ok());

    let fresh = "Green-Valley-9153!";
    idp::admin::users::set_password(&d.k.idp, &actor, BOB, fresh)
        .await
        .unwrap();
    assert_eq!(
        d.bind(BOB_DN, DEMO_PASSWORD).await.err(),
        Some(INVALID_CREDENTIALS)
    );
    assert!(d.bind(BOB_DN, fresh).await.is_ok());

    idp::admin::users::delete(&d.k.idp, &actor, BOB)
        .await
        .unwrap();
    assert_eq!(d.bind(BOB_DN, fresh).await.err(), Some(INVALID_CREDENTIALS));
}

#[tokio::test]
async fn anonymous_binds_are_refused_unless_configured() {
    let d = directory(|_| {}).await;
    assert_eq!(d.bind("", "").await.err(), Some(INAPPROPRIATE_AUTH));
    // Without a bind only the rootDSE answers.
    let mut ldap = d.conn().await;
    assert_eq!(
        search(&mut ldap, BASE, "(objectClass=*)", &[]).await.err(),
        Some(INSUFFICIENT_ACCESS)
    );
    let res = ldap
        .search(
            "",
            Scope::Base,
            "(objectClass=*)",
            vec!["namingContexts", "supportedControl"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let dse = SearchEntry::construct(res.0.into_iter().next().unwrap());
    assert_eq!(attr(&dse, "namingContexts"), vec![BASE]);
    assert_eq!(attr(&dse, "supportedControl"), vec![idp::ldap::OID_PAGED]);
    assert_eq!(whoami(&mut ldap).await, "");

    let open = directory(|c| c.allow_anonymous = true).await;
    let mut ldap = open.bind("", "").await.unwrap();
    let found = search(&mut ldap, BASE, "(uid=bob)", &["*"]).await.unwrap();
    assert_eq!(found.len(), 1);
    assert!(attr(&found[0], "telephoneNumber").is_empty());
}

#[tokio::test]
async fn a_user_reads_themselves_in_full_and_others_basics_only() {
    let d = directory(|_| {}).await;
    let demo = d.k.demo_user().await;
    d.k.idp
        .add_ssh_key(&demo, "laptop", KEY, None, 0)
        .await
        .unwrap();
    let bob = d.k.idp.user_by_email(BOB).await.unwrap();
    d.k.idp
        .add_ssh_key(&bob, "laptop", KEY, None, 0)
        .await
        .unwrap();
    let mut ldap = d.bind(DEMO_DN, DEMO_PASSWORD).await.unwrap();
    let all = search(&mut ldap, BASE, "(objectClass=inetOrgPerson)", &["*"])
        .await
        .unwrap();
    let me = by_dn(&all, DEMO_DN).unwrap();
    assert_eq!(attr(me, "sshPublicKey"), vec![KEY]);
    assert_eq!(attr(me, "telephoneNumber"), vec!["+1 555 0100"]);
    assert_eq!(
        attr(me, "memberOf"),
        vec!["cn=Staff,ou=groups,dc=example,dc=com"]
    );
    let other = by_dn(&all, BOB_DN).unwrap();
    assert_eq!(attr(other, "cn"), vec!["Bob Stone"]);
    assert!(attr(other, "sshPublicKey").is_empty(), "not a basic");
    // A filter sees only what may be read: it cannot probe a hidden value.
    let probe = search(&mut ldap, BASE, "(sshPublicKey=*)", &["uid"])
        .await
        .unwrap();
    assert_eq!(
        probe.iter().map(|e| e.dn.as_str()).collect::<Vec<_>>(),
        vec![DEMO_DN]
    );

    // Groups with their members, and memberOf.
    let groups = search(
        &mut ldap,
        "ou=groups,dc=example,dc=com",
        "(cn=Staff)",
        &["member", "gidNumber"],
    )
    .await
    .unwrap();
    assert_eq!(attr(&groups[0], "member"), vec![DEMO_DN]);
    let staff = search(
        &mut ldap,
        BASE,
        "(memberOf=cn=staff,ou=groups,dc=example,dc=com)",
        &["uid"],
    )
    .await
    .unwrap();
    assert_eq!(staff.len(), 1);
    assert_eq!(staff[0].dn, DEMO_DN);
}

#[tokio::test]
async fn filters_are_data_and_searches_stay_under_the_base() {
    let d = directory(|_| {}).await;
    let mut ldap = d.bind(DEMO_DN, DEMO_PASSWORD).await.unwrap();
    let hit = search(
        &mut ldap,
        BASE,
        "(&(objectClass=person)(|(uid=bo*)(sn=nobody))(!(uid=dreyes)))",
        &["uid"],
    )
    .await
    .unwrap();
    assert_eq!(
        hit.iter().map(|e| e.dn.as_str()).collect::<Vec<_>>(),
        vec![BOB_DN]
    );
    // The classic injection: `*)(uid=*` typed as a value. Escaped by the
    // client, it is a literal value and matches nobody.
    let typed = "*)(uid=*";
    let escaped = ldap3::ldap_escape(typed);
    let none = search(&mut ldap, BASE, &format!("(uid={escaped})"), &["uid"])
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");

    assert_eq!(
        search(&mut ldap, "dc=other,dc=com", "(objectClass=*)", &[])
            .await
            .err(),
        Some(NO_SUCH_OBJECT)
    );
    assert_eq!(
        search(
            &mut ldap,
            "ou=nothing,dc=example,dc=com",
            "(objectClass=*)",
            &[]
        )
        .await
        .err(),
        Some(NO_SUCH_OBJECT)
    );
    // Read-only: writes are refused.
    let res = ldap.delete(BOB_DN).await.unwrap();
    assert_eq!(res.rc, UNWILLING);
}

#[tokio::test]
async fn service_accounts_read_what_their_grant_says() {
    let d = directory(|_| {}).await;
    let bob = d.k.idp.user_by_email(BOB).await.unwrap();
    d.k.idp
        .add_ssh_key(&bob, "laptop", KEY, None, 0)
        .await
        .unwrap();
    let (dn, key) = d.service("sshd", "users").await;
    assert_eq!(dn, "cn=sshd,ou=services,dc=example,dc=com");
    let mut ldap = d.bind(&dn, &key).await.unwrap();
    assert_eq!(whoami(&mut ldap).await, format!("dn:{dn}"));
    // What an AuthorizedKeysCommand asks.
    let found = search(
        &mut ldap,
        "ou=users,dc=example,dc=com",
        "(&(objectClass=posixAccount)(uid=bob))",
        &["sshPublicKey"],
    )
    .await
    .unwrap();
    assert_eq!(attr(&found[0], "sshPublicKey"), vec![KEY]);
    let groups = search(&mut ldap, BASE, "(objectClass=groupOfNames)", &["cn"])
        .await
        .unwrap();
    assert!(groups.is_empty(), "no groups grant");

    let (gdn, gkey) = d.service("nas", "groups").await;
    let mut g = d.bind(&gdn, &gkey).await.unwrap();
    assert!(
        search(&mut g, BASE, "(uid=*)", &[])
            .await
            .unwrap()
            .is_empty(),
        "no users grant"
    );
    assert_eq!(
        search(&mut g, BASE, "(cn=Staff)", &[]).await.unwrap().len(),
        1
    );

    // Negative twins: a wrong key, and a revoked account.
    assert_eq!(
        d.bind(&dn, "pcl_ldap_wrong").await.err(),
        Some(INVALID_CREDENTIALS)
    );
    idp::admin::ldap_accounts::revoke(&d.k.idp, &support::admin_actor(), "sshd")
        .await
        .unwrap();
    assert_eq!(d.bind(&dn, &key).await.err(), Some(INVALID_CREDENTIALS));
    let listed = idp::admin::ldap_accounts::list(&d.k.idp).await.unwrap();
    assert!(
        listed
            .iter()
            .any(|a| a.name == "sshd" && a.revoked_at.is_some())
    );
    let events = d.k.audit_events().await;
    assert!(events.iter().any(|(e, _)| e == "admin.ldap_account.add"));
    assert!(events.iter().any(|(e, _)| e == "admin.ldap_account.revoke"));
    assert!(
        idp::admin::ldap_accounts::add(&d.k.idp, &support::admin_actor(), "bad name", "users")
            .await
            .is_err()
    );
    assert!(
        idp::admin::ldap_accounts::add(&d.k.idp, &support::admin_actor(), "x", "everything")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn paged_results_return_every_entry_once_in_pages() {
    let d = directory(|_| {}).await;
    for i in 0..5 {
        idp::admin::users::add(
            &d.k.idp,
            &support::admin_actor(),
            idp::admin::users::NewUser {
                email: format!("user{i}@example.com"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let mut ldap = d.bind(DEMO_DN, DEMO_PASSWORD).await.unwrap();
    let mut stream = ldap
        .streaming_search_with(
            PagedResults::new(2),
            "ou=users,dc=example,dc=com",
            Scope::OneLevel,
            "(objectClass=person)",
            vec!["uid"],
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(e) = stream.next().await.unwrap() {
        seen.push(SearchEntry::construct(e).dn);
    }
    assert_eq!(stream.finish().await.rc, 0);
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        7,
        "no entry twice"
    );

    // A size limit below the number of hits: sizeLimitExceeded (4).
    let res = ldap
        .with_search_options(ldap3::SearchOptions::new().sizelimit(2))
        .search(BASE, Scope::Subtree, "(objectClass=person)", vec!["uid"])
        .await
        .unwrap();
    assert_eq!(res.1.rc, 4);
    assert_eq!(res.0.len(), 2);
}

#[tokio::test]
async fn posix_ids_are_stable_and_never_reused() {
    let d = directory(|_| {}).await;
    let mut ldap = d.bind(DEMO_DN, DEMO_PASSWORD).await.unwrap();
    let ids = |entries: &[SearchEntry]| -> Vec<(String, String)> {
        entries
            .iter()
            .map(|e| (e.dn.clone(), attr(e, "uidNumber").concat()))
            .collect()
    };
    let first = search(
        &mut ldap,
        BASE,
        "(objectClass=posixAccount)",
        &["uidNumber", "gidNumber", "homeDirectory"],
    )
    .await
    .unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(
        attr(by_dn(&first, BOB_DN).unwrap(), "homeDirectory"),
        vec!["/home/bob"]
    );
    let again = search(
        &mut ldap,
        BASE,
        "(objectClass=posixAccount)",
        &["uidNumber"],
    )
    .await
    .unwrap();
    assert_eq!(ids(&first), ids(&again));
    let bob_number = attr(by_dn(&first, BOB_DN).unwrap(), "uidNumber").concat();

    idp::admin::users::delete(&d.k.idp, &support::admin_actor(), BOB)
        .await
        .unwrap();
    idp::admin::users::add(
        &d.k.idp,
        &support::admin_actor(),
        idp::admin::users::NewUser {
            email: "carol@example.com".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let after = search(
        &mut ldap,
        BASE,
        "(objectClass=posixAccount)",
        &["uidNumber"],
    )
    .await
    .unwrap();
    let numbers: Vec<String> = after
        .iter()
        .map(|e| attr(e, "uidNumber").concat())
        .collect();
    assert!(
        !numbers.contains(&bob_number),
        "{numbers:?} reuses {bob_number}"
    );
    let groups = search(&mut ldap, BASE, "(objectClass=posixGroup)", &["gidNumber"])
        .await
        .unwrap();
    let gid = attr(&groups[0], "gidNumber").concat();
    assert!(
        !numbers.contains(&gid),
        "one number space for users and groups"
    );

    // Without `posix`, no POSIX attributes.
    let plain = directory(|c| c.posix = false).await;
    let mut ldap = plain.bind(DEMO_DN, DEMO_PASSWORD).await.unwrap();
    assert!(
        search(&mut ldap, BASE, "(objectClass=posixAccount)", &[])
            .await
            .unwrap()
            .is_empty()
    );
}

fn oath(secret: &str, at: i64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", secret, "-N", &format!("@{at}")])
        .output()
        .expect("oathtool is installed (scripts/install-deps.sh test)");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn with_mfa_required_a_totp_user_types_the_code_after_the_password() {
    let d = directory(|c| c.require_mfa = true).await;
    let demo = d.k.demo_user().await;
    assert!(d.k.idp.begin_totp(&demo).await.unwrap());
    let key =
        d.k.idp
            .totp_enrolment(&demo)
            .await
            .unwrap()
            .unwrap()
            .key_base32;
    let now = idp::clock::now();
    assert!(
        d.k.idp
            .confirm_totp(&demo, &oath(&key, now), None)
            .await
            .unwrap()
    );
    // The password alone no longer binds; nor does a wrong code.
    assert_eq!(
        d.bind(DEMO_DN, DEMO_PASSWORD).await.err(),
        Some(INVALID_CREDENTIALS)
    );
    assert_eq!(
        d.bind(DEMO_DN, &format!("{DEMO_PASSWORD}000000"))
            .await
            .err(),
        Some(INVALID_CREDENTIALS)
    );
    // The enrolment used the current step; the next one binds.
    let code = oath(&key, now + 30);
    assert!(
        d.bind(DEMO_DN, &format!("{DEMO_PASSWORD}{code}"))
            .await
            .is_ok()
    );
    // A user without an app binds with the password alone.
    assert!(d.bind(BOB_DN, DEMO_PASSWORD).await.is_ok());
}

#[tokio::test]
async fn the_starttls_listener_takes_no_password_in_clear() {
    let d = directory(|c| c.starttls = Some("127.0.0.1:0".parse().unwrap())).await;
    let url = format!("ldap://{}", d.ldap.addr(Kind::StartTls).unwrap());
    let (conn, mut ldap) = LdapConnAsync::new(&url).await.unwrap();
    ldap3::drive!(conn);
    let res = ldap.simple_bind(DEMO_DN, DEMO_PASSWORD).await.unwrap();
    assert_eq!(res.rc, CONFIDENTIALITY_REQUIRED);
    // The rootDSE is still there, so a client can see StartTLS is offered.
    let res = ldap
        .search(
            "",
            Scope::Base,
            "(objectClass=*)",
            vec!["supportedExtension"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let dse = SearchEntry::construct(res.0.into_iter().next().unwrap());
    assert!(attr(&dse, "supportedExtension").contains(&idp::ldap::OID_STARTTLS));
    // The plain listener (allowed here) takes it.
    assert!(d.bind(DEMO_DN, DEMO_PASSWORD).await.is_ok());
}

#[tokio::test]
async fn an_oversized_message_closes_the_connection() {
    let d = directory(|_| {}).await;
    // Before a bind: 4 KiB at most.
    let mut ldap = d.conn().await;
    let big = format!("(uid={})", "a".repeat(6000));
    let res = ldap.search(BASE, Scope::Subtree, &big, vec!["uid"]).await;
    assert!(res.is_err() || res.unwrap().1.rc != 0, "refused");
    assert!(
        ldap.simple_bind(DEMO_DN, DEMO_PASSWORD).await.is_err(),
        "and closed"
    );
    // Once bound the same search fits, and a larger one than
    // max_message_bytes closes the connection.
    let mut ldap = d.bind(DEMO_DN, DEMO_PASSWORD).await.unwrap();
    assert_eq!(
        search(&mut ldap, BASE, &big, &["uid"]).await.unwrap().len(),
        0
    );
    let huge = format!("(uid={})", "a".repeat(70_000));
    let res = ldap.search(BASE, Scope::Subtree, &huge, vec!["uid"]).await;
    assert!(res.is_err() || res.unwrap().1.rc != 0, "refused");
    assert!(whoami_fails(&mut ldap).await, "and closed");
}

async fn whoami_fails(ldap: &mut ldap3::Ldap) -> bool {
    ldap.extended(ldap3::exop::WhoAmI).await.is_err()
}

const BUSY: u32 = 51;

#[tokio::test]
async fn repeated_wrong_binds_are_slowed_down_and_the_right_one_waits_too() {
    let d = directory(|_| {}).await;
    d.k.set("lockout.threshold", "3").await;
    for _ in 0..3 {
        assert_eq!(
            d.bind(DEMO_DN, "Wrong-Passw0rd!").await.err(),
            Some(INVALID_CREDENTIALS)
        );
    }
    // Progressive mode: this account from this address waits; the right
    // password gets the same answer, so it is no oracle.
    assert_eq!(d.bind(DEMO_DN, "Wrong-Passw0rd!").await.err(), Some(BUSY));
    assert_eq!(d.bind(DEMO_DN, DEMO_PASSWORD).await.err(), Some(BUSY));
    // Another account is not held up.
    assert!(d.bind(BOB_DN, DEMO_PASSWORD).await.is_ok());

    // Service-account keys are counted the same way.
    let (dn, key) = d.service("vpn", "users").await;
    for _ in 0..3 {
        assert_eq!(
            d.bind(&dn, "pcl_ldap_guess").await.err(),
            Some(INVALID_CREDENTIALS)
        );
    }
    assert_eq!(d.bind(&dn, &key).await.err(), Some(BUSY));
}

#[tokio::test]
async fn compare_answers_from_what_the_identity_may_read() {
    let d = directory(|_| {}).await;
    let (dn, key) = d.service("apache", "users,groups").await;
    let mut ldap = d.bind(&dn, &key).await.unwrap();
    let staff = "cn=Staff,ou=groups,dc=example,dc=com";
    let yes = ldap.compare(staff, "member", DEMO_DN).await.unwrap();
    assert_eq!(yes.0.rc, 6, "compareTrue");
    let no = ldap.compare(staff, "member", BOB_DN).await.unwrap();
    assert_eq!(no.0.rc, 5, "compareFalse");
    let missing = ldap
        .compare("cn=Nobody,ou=groups,dc=example,dc=com", "member", DEMO_DN)
        .await
        .unwrap();
    assert_eq!(missing.0.rc, NO_SUCH_OBJECT);
    // A user cannot learn another's phone number by comparing it.
    let mut user = d.bind(BOB_DN, DEMO_PASSWORD).await.unwrap();
    let probe = user
        .compare(DEMO_DN, "telephoneNumber", "+1 555 0100")
        .await
        .unwrap();
    assert_eq!(probe.0.rc, 5);
}

/// A search that names a user (by uid, mail or DN) reads only that user
/// from the store; it must answer exactly what reading the whole directory
/// answers. `(!(cn=-))` matches every entry but pins nothing, so it forces
/// the full read for the comparison.
#[tokio::test]
async fn a_search_that_names_a_user_answers_what_a_full_read_answers() {
    let d = directory(|_| {}).await;
    let bob = d.k.idp.user_by_email(BOB).await.unwrap();
    d.k.idp
        .add_ssh_key(&bob, "laptop", KEY, None, 0)
        .await
        .unwrap();
    let staff = idp::admin::groups::add(&d.k.idp, &support::admin_actor(), "Pilots")
        .await
        .unwrap();
    idp::admin::groups::add_member(&d.k.idp, &support::admin_actor(), &staff.name, BOB)
        .await
        .unwrap();
    let (dn, key) = d.service("sshd", "users,groups").await;
    let mut ldap = d.bind(&dn, &key).await.unwrap();
    let sorted = |mut v: Vec<SearchEntry>| {
        v.sort_by(|a, b| a.dn.cmp(&b.dn));
        v.into_iter()
            .map(|e| {
                let mut attrs: Vec<_> = e.attrs.into_iter().collect();
                attrs.sort();
                (e.dn, attrs)
            })
            .collect::<Vec<_>>()
    };
    for (base, filter) in [
        (BASE, "(uid=BOB)"),
        (BASE, "(mail=BOB@example.com)"),
        (
            "ou=users,dc=example,dc=com",
            "(&(objectClass=posixAccount)(uid=bob))",
        ),
        (BASE, "(|(mail=bob@example.com)(mail=demo@example.com))"),
        (BOB_DN, "(objectClass=*)"),
        (BASE, "(uid=nobody@example.com)"),
    ] {
        let pinned = search(&mut ldap, base, filter, &["*"]).await.unwrap();
        let full = search(&mut ldap, base, &format!("(&{filter}(!(cn=-)))"), &["*"])
            .await
            .unwrap();
        assert_eq!(sorted(pinned.clone()), sorted(full), "{base} {filter}");
        if filter.to_lowercase().contains("bob") {
            let entry = by_dn(&pinned, BOB_DN).unwrap_or_else(|| panic!("{filter}: no bob"));
            assert_eq!(attr(entry, "sshPublicKey"), vec![KEY]);
            assert!(
                attr(entry, "memberOf").contains(&"cn=Pilots,ou=groups,dc=example,dc=com"),
                "{filter}: {:?}",
                attr(entry, "memberOf")
            );
            assert!(!attr(entry, "uidNumber").is_empty(), "posix attributes");
        }
    }
    // Bob's own entry, read as Bob, carries what only he may see.
    let mut own = d.bind(BOB_DN, DEMO_PASSWORD).await.unwrap();
    let me = search(&mut own, BASE, "(mail=bob@example.com)", &["sshPublicKey"])
        .await
        .unwrap();
    assert_eq!(attr(&me[0], "sshPublicKey"), vec![KEY]);
    let demo = search(
        &mut own,
        BASE,
        "(mail=demo@example.com)",
        &["sshPublicKey", "mail"],
    )
    .await
    .unwrap();
    assert!(
        attr(&demo[0], "sshPublicKey").is_empty(),
        "not another user's keys"
    );
}

/// The first searches after start-up arrive together (a NAS listing
/// everyone); they give out each POSIX number once and agree on them.
#[tokio::test]
async fn concurrent_first_searches_agree_on_posix_numbers() {
    let d = directory(|_| {}).await;
    for i in 0..30 {
        idp::admin::users::add(
            &d.k.idp,
            &support::admin_actor(),
            idp::admin::users::NewUser {
                email: format!("crew{i}@example.com"),
                first_name: "Crew".into(),
                last_name: format!("Member{i}"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let (dn, key) = d.service("nas", "users").await;
    let mut searches = Vec::new();
    for _ in 0..6 {
        let mut ldap = d.bind(&dn, &key).await.unwrap();
        searches.push(tokio::spawn(async move {
            let found = search(
                &mut ldap,
                BASE,
                "(objectClass=posixAccount)",
                &["uidNumber"],
            )
            .await
            .unwrap();
            let mut numbers: Vec<(String, String)> = found
                .iter()
                .map(|e| (e.dn.clone(), attr(e, "uidNumber")[0].to_string()))
                .collect();
            numbers.sort();
            numbers
        }));
    }
    let mut answers = Vec::new();
    for s in searches {
        answers.push(s.await.unwrap());
    }
    assert_eq!(answers[0].len(), 32, "30 crew, demo and bob");
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "every search saw the same numbers"
    );
    let distinct: HashSet<&String> = answers[0].iter().map(|(_, n)| n).collect();
    assert_eq!(distinct.len(), answers[0].len(), "no number given twice");
}
