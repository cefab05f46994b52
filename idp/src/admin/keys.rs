//! Signing keys: OIDC (JWKS) and SAML (metadata certificate) rotation.

use std::time::Duration;

use serde::Serialize;

use super::{Actor, AdminError, Record, Result};
use crate::idp::Idp;
use crate::oidc::keys::{self, Alg};
use crate::saml::keys::SamlKeys;

/// One signing key or certificate, for listing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub kid: String,
    /// `RS256`, `ES256`, or `SAML RS256` for a SAML certificate.
    pub alg: String,
    pub saml: bool,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    /// A SAML standby: published, signing from then.
    pub activates_at: Option<i64>,
}

impl KeyView {
    /// "standby" (published, not yet signing), "signing" or "retired"
    /// (published for the overlap, or only verifying), at `now`.
    pub fn state(&self, now: i64) -> &'static str {
        if self.activates_at.is_some_and(|a| a > now) {
            "standby"
        } else if self.retired_at.is_some_and(|r| r <= now) {
            "retired"
        } else {
            "signing"
        }
    }
}

/// A new OIDC signer per algorithm (`alg`, or every supported one); the old
/// keys stay in the JWKS for `oidc.key_retention`. One audit row names every
/// new key.
pub async fn rotate_oidc(
    idp: &Idp,
    actor: &Actor,
    alg: Option<&str>,
) -> Result<Vec<(Alg, String)>> {
    let algs = match alg {
        None => Alg::ALL.to_vec(),
        Some(a) => vec![Alg::parse(a).ok_or_else(|| {
            AdminError::invalid("alg", format!("unknown algorithm {a:?} (RS256 or ES256)"))
        })?],
    };
    // The first keys must exist, so that a rotation retires a real key.
    idp.oidc_keys().await?;
    let mut kids = Vec::new();
    for alg in algs {
        let kid =
            keys::rotate(&idp.store, &idp.keys.secret_box(), alg, crate::clock::now()).await?;
        kids.push((alg, kid));
    }
    let detail: Vec<String> = kids
        .iter()
        .map(|(alg, kid)| format!("{} {kid}", alg.as_str()))
        .collect();
    Record::new("admin.oidc.key.rotate")
        .detail(detail.join(", "))
        .write(idp, actor)
        .await;
    Ok(kids)
}

/// A new SAML signing certificate, published at once as a standby and
/// signing after the returned delay (`saml.cert_overlap`), so SPs that
/// refresh metadata trust it before the switch; the current one signs until
/// then and stays published for the overlap after.
pub async fn rotate_saml(idp: &Idp, actor: &Actor) -> Result<(String, Duration)> {
    let overlap = idp.config.saml.cert_overlap;
    let id = add_saml_cert(idp, actor, Some(overlap)).await?;
    Ok((id, overlap))
}

/// A new SAML signing certificate that signs at once: for a compromised
/// key. SPs that have not refreshed our metadata refuse responses until
/// they do.
pub async fn rotate_saml_now(idp: &Idp, actor: &Actor) -> Result<String> {
    add_saml_cert(idp, actor, None).await
}

async fn add_saml_cert(idp: &Idp, actor: &Actor, delay: Option<Duration>) -> Result<String> {
    idp.oidc_keys().await?;
    // The first certificate must exist, so that a rotation retires a real one.
    idp.saml_keys().await?;
    let now = crate::clock::now();
    let activates_at = delay.map(|d| now + d.as_secs() as i64);
    let id = SamlKeys::rotate(
        &idp.store,
        &idp.keys.secret_box(),
        &idp.saml_entity_id(),
        idp.config.saml.cert_validity_days,
        now,
        activates_at,
    )
    .await?;
    idp.reload_saml_keys().await;
    // Refreshes the PEM files in <data_dir>/saml/.
    idp.saml_keys().await?;
    let detail = match activates_at {
        Some(at) => format!("{id} (standby, signs from {at})"),
        None => format!("{id} (signs at once)"),
    };
    Record::new("admin.saml.key.rotate")
        .detail(detail)
        .write(idp, actor)
        .await;
    Ok(id)
}

/// OIDC keys, then SAML certificates, oldest first. Creates the first ones
/// when none exist yet, as the server would at start-up.
pub async fn list(idp: &Idp) -> Result<Vec<KeyView>> {
    idp.oidc_keys().await?;
    idp.saml_keys().await?;
    let mut all: Vec<KeyView> = idp
        .store
        .oidc_keys()
        .await?
        .into_iter()
        .map(|r| KeyView {
            kid: r.kid,
            alg: r.alg,
            saml: false,
            created_at: r.created_at,
            retired_at: r.retired_at,
            activates_at: None,
        })
        .collect();
    all.extend(idp.store.saml_certs().await?.into_iter().map(|r| KeyView {
        kid: r.id,
        alg: "SAML RS256".into(),
        saml: true,
        created_at: r.created_at,
        retired_at: r.retired_at,
        activates_at: r.activates_at,
    }));
    Ok(all)
}
