//! A test kit that drives the portal router in memory like a browser: it
//! keeps cookies, follows nothing automatically, and picks the CSRF token
//! out of the last page.

#![allow(dead_code)]

pub mod pg;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use idp::config::{DemoConfig, PasswordConfig};
use idp::{Idp, IdpConfig};
use tower::ServiceExt;

pub const DEMO_EMAIL: &str = "demo@example.com";
/// Meets the default policy, so it can also be tried as a "new" password.
pub const DEMO_PASSWORD: &str = "Blue-Harbor-7421!";

/// The actor of administrative calls made by the suites.
pub fn admin_actor() -> idp::admin::Actor {
    idp::admin::Actor::cli("test")
}

pub struct Kit {
    pub idp: Arc<Idp>,
    pub router: Router,
    _dir: tempfile::TempDir,
}

pub async fn kit() -> Kit {
    kit_with(|_| {}).await
}

/// A kit whose configuration `adjust` may change first (OIDC clients...).
/// The suites' configuration: fast hashing, and the demo seed with a known
/// password, over `dir`.
pub fn test_config(dir: &std::path::Path) -> IdpConfig {
    let mut config = IdpConfig::for_data_dir(dir.to_path_buf());
    config.passwords = PasswordConfig {
        argon2_memory_kib: 8192,
        argon2_iterations: 1,
        argon2_parallelism: 1,
        hash_workers: Some(2),
    };
    config.demo = DemoConfig {
        seed: true,
        email: DEMO_EMAIL.into(),
        password: Some(DEMO_PASSWORD.into()),
    };
    config
}

pub async fn kit_with(adjust: impl FnOnce(&mut IdpConfig)) -> Kit {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    adjust(&mut config);
    let store = test_store().await;
    let idp = Idp::with_store(config, store).await.unwrap();
    idp::seed::seed_if_new(&idp).await.unwrap().unwrap();
    Kit {
        router: idp::web::router(idp.clone()),
        idp,
        _dir: dir,
    }
}

/// A browser at the password step of the demo user's sign-in.
pub async fn at_password_step(k: &Kit) -> Browser {
    let mut b = k.browser();
    b.get("/login").await;
    let step1 = b.post("/login", &[("email", DEMO_EMAIL)]).await;
    assert_eq!(step1.location(), Some("/login/password"), "{}", step1.body);
    assert_eq!(b.get("/login/password").await.status, StatusCode::OK);
    b
}

/// The store the suites run on: SQLite in memory, or a fresh database on a
/// real PostgreSQL server when `PORTCULLIS_TEST_DATABASE=postgres` (dev.sh
/// test runs the suites both ways).
pub async fn test_store() -> idp::store::Store {
    match std::env::var("PORTCULLIS_TEST_DATABASE").as_deref() {
        Ok("postgres") => idp::store::Store::open(&pg::fresh_database().await)
            .await
            .unwrap(),
        Ok("sqlite") | Err(_) => idp::store::Store::open_in_memory().await.unwrap(),
        Ok(other) => panic!("PORTCULLIS_TEST_DATABASE={other}: expected sqlite or postgres"),
    }
}

impl Kit {
    pub fn browser(&self) -> Browser {
        Browser {
            router: self.router.clone(),
            cookies: HashMap::new(),
            csrf: None,
            from: None,
            user_agent: None,
        }
    }

    /// A browser whose requests come from `ip` (IPv4 or IPv6).
    pub fn browser_from(&self, ip: &str) -> Browser {
        let mut b = self.browser();
        b.from = Some(std::net::SocketAddr::new(ip.parse().unwrap(), 40_000));
        b
    }

    /// A browser talking to another router over the same core (e.g. one
    /// sharing handshake state with a test's gateway).
    pub fn browser_with(&self, router: Router) -> Browser {
        Browser {
            router,
            cookies: HashMap::new(),
            csrf: None,
            from: None,
            user_agent: None,
        }
    }

    /// A browser already signed in as the demo user.
    pub async fn signed_in(&self) -> Browser {
        let mut b = self.browser();
        let res = b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
        assert_eq!(res.location(), Some("/apps"), "{}", res.body);
        b
    }

    /// Another core over the same store and data folder (so the same master
    /// key): a second serving instance, or the admin CLI, which opens the
    /// core, acts and exits.
    pub async fn another_idp(&self, adjust: impl FnOnce(&mut IdpConfig)) -> Arc<Idp> {
        let mut config = self.idp.config.clone();
        adjust(&mut config);
        Idp::with_store(config, self.idp.store.clone())
            .await
            .unwrap()
    }

    /// An application nobody is assigned to (`https://<name>.example.com/`,
    /// lower-cased).
    pub async fn unassigned_application(&self, name: &str) -> idp::directory::Application {
        self.idp
            .store
            .create_application(
                &idp::store::NewApplication {
                    name: name.into(),
                    launch_url: format!("https://{}.example.com/", name.to_lowercase()),
                    ..Default::default()
                },
                0,
            )
            .await
            .unwrap()
    }

    pub async fn demo_user(&self) -> idp::directory::User {
        self.idp.user_by_email(DEMO_EMAIL).await.unwrap()
    }

    pub async fn set(&self, key: &str, value: &str) {
        idp::settings::Settings::set(&self.idp.store, key, value)
            .await
            .unwrap();
    }

    pub async fn audit_events(&self) -> Vec<(String, String)> {
        self.idp
            .store
            .recent_audit(1000)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.event, r.outcome))
            .collect()
    }
}

#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    /// Whether the page shows `text`, as written or as the HTML escaping of it.
    pub fn has(&self, text: &str) -> bool {
        let escaped = text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#x27;")
            .replace('/', "&#x2f;");
        self.body.contains(text) || self.body.contains(&escaped)
    }
}

#[derive(Clone)]
pub struct Browser {
    router: Router,
    pub cookies: HashMap<String, String>,
    pub csrf: Option<String>,
    /// The client address the portal sees (as a listener's `ConnectInfo`);
    /// none by default.
    pub from: Option<std::net::SocketAddr>,
    /// The `User-Agent` header sent; none by default.
    pub user_agent: Option<String>,
}

pub fn csrf_in(body: &str) -> Option<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_string())
}

impl Browser {
    pub async fn send(&mut self, req: Request<Body>) -> Page {
        let (mut parts, body) = req.into_parts();
        if let Some(from) = self.from {
            parts.extensions.insert(axum::extract::ConnectInfo(from));
        }
        if let Some(ua) = &self.user_agent {
            parts
                .headers
                .insert(header::USER_AGENT, ua.parse().unwrap());
        }
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            parts
                .headers
                .insert(header::COOKIE, jar.join("; ").parse().unwrap());
        }
        let res = self
            .router
            .clone()
            .oneshot(Request::from_parts(parts, body))
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let page = Page {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        for c in page.set_cookies() {
            let (pair, attrs) = c.split_once(';').unwrap_or((&c, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        if let Some(token) = csrf_in(&page.body) {
            self.csrf = Some(token);
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// Posts a form with the CSRF token of the last page seen.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        let token = self.csrf.clone().unwrap_or_default();
        all.push(("csrf", &token));
        self.post_raw(path, &all).await
    }

    /// Posts exactly these fields, no token added.
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    /// Both sign-in steps; returns the answer to the password step.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        self.sign_in_to(email, password, "").await
    }

    pub async fn sign_in_to(&mut self, email: &str, password: &str, return_to: &str) -> Page {
        // Signed in already, /login redirects; a browser follows and so
        // picks up the current form token.
        let first = self.get("/login").await;
        if let Some(to) = first.location().map(str::to_owned) {
            self.get(&to).await;
        }
        let step1 = self
            .post("/login", &[("email", email), ("return_to", return_to)])
            .await;
        assert_eq!(step1.location(), Some("/login/password"), "{}", step1.body);
        let page = self.get("/login/password").await;
        assert_eq!(page.status, StatusCode::OK);
        self.post("/login/password", &[("password", password)])
            .await
    }
}
