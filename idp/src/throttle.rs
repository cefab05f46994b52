//! Failed-sign-in throttling: growing delays per account and source, per
//! account, per address and per subnet, counted in the state store so every
//! instance applies the same ones.
//!
//! Every counter is keyed by a MAC of the typed email and/or the address, so
//! an unknown email costs and answers exactly like a known one, and the
//! table lists no email or address. A delayed key is answered "wait" before
//! any password is checked: a correct password from a delayed source is not
//! an oracle, and no hash is computed for it.

use std::net::IpAddr;

use crate::crypto;
use crate::error::Result;
use crate::idp::Idp;
use crate::settings::{LockoutMode, Settings};

const PURPOSE: &str = "signin-throttle";

/// The four counters one password attempt touches. An absent address gives
/// empty keys, which match no row.
#[derive(Debug, Clone)]
pub struct Keys {
    /// This email from this address: the progressive per-account delay. It
    /// is per source so a stranger's guesses never delay the owner elsewhere.
    account_source: String,
    /// This email from everywhere: a much higher bar for distributed guessing.
    account: String,
    address: String,
    subnet: String,
}

/// The address, with an IPv4-mapped IPv6 address (a dual-stack listener's
/// view of an IPv4 client) read as the IPv4 address it is.
fn parse(ip: &str) -> Option<IpAddr> {
    Some(match ip.trim().parse().ok()? {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    })
}

/// The /24 of an IPv4 address or the /64 of an IPv6 one (one customer's
/// allocation, which an attacker rotates through freely). IPv4-mapped IPv6
/// addresses count as IPv4.
pub fn subnet_of(ip: &str) -> Option<String> {
    Some(match parse(ip)? {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    })
}

impl Keys {
    /// `email` must already be normalised.
    pub fn new(keys: &crypto::Keys, email: &str, ip: Option<&str>) -> Self {
        let mac = |scope: &str| crypto::b64url(&keys.mac(PURPOSE, scope.as_bytes()));
        let ip = ip
            .map(|i| parse(i).map_or_else(|| i.trim().to_string(), |a| a.to_string()))
            .filter(|i| !i.is_empty());
        let ip = ip.as_deref();
        Self {
            account_source: mac(&format!("as:{email}|{}", ip.unwrap_or("-"))),
            account: mac(&format!("a:{email}")),
            address: ip.map(|i| mac(&format!("i:{i}"))).unwrap_or_default(),
            subnet: ip
                .and_then(subnet_of)
                .map(|n| mac(&format!("n:{n}")))
                .unwrap_or_default(),
        }
    }

    /// The key of the whole account (cleared by a reset or an unlock).
    pub fn account_only(keys: &crypto::Keys, email: &str) -> String {
        crypto::b64url(&keys.mac(PURPOSE, format!("a:{email}").as_bytes()))
    }

    fn all(&self) -> [&str; 4] {
        [
            &self.account_source,
            &self.account,
            &self.address,
            &self.subnet,
        ]
    }
}

/// The delay after `failures` on a counter whose threshold is `threshold`:
/// none below it, `base` at it, doubling with each failure past it, at most
/// `max`. A threshold of 0 never delays.
pub fn delay_after(failures: i64, threshold: u32, base: i64, max: i64) -> Option<i64> {
    let threshold = i64::from(threshold);
    if threshold == 0 || failures < threshold {
        return None;
    }
    let doublings = u32::try_from(failures - threshold)
        .unwrap_or(u32::MAX)
        .min(32);
    Some(base.saturating_mul(1i64 << doublings).min(max))
}

impl Idp {
    /// Seconds until the attempt may be made, when a counter delays it.
    pub(crate) async fn throttled(&self, keys: &Keys, now: i64) -> Result<Option<i64>> {
        let until = self.store.signin_blocked_until(&keys.all(), now).await?;
        Ok(until.map(|u| (u - now).max(1)))
    }

    /// Counts one failed password on every counter and starts the delays
    /// whose threshold is reached. Returns the account-wide count (the
    /// same for a known and an unknown email).
    pub(crate) async fn throttle_failure(
        &self,
        keys: &Keys,
        settings: &Settings,
        now: i64,
    ) -> Result<i64> {
        let l = &settings.lockout;
        let forget_before = now - l.forget_after.as_secs() as i64;
        let (base, max) = (l.delay.as_secs() as i64, l.max_delay.as_secs() as i64);
        // In hard mode the administrator's threshold locks the account
        // instead; the per-source delay would only repeat it.
        let per_source = match l.mode {
            LockoutMode::Progressive => settings.lockout_threshold,
            LockoutMode::Hard => 0,
        };
        let mut account_failures = 0;
        for (key, threshold) in [
            (&keys.account_source, per_source),
            (&keys.account, l.account_threshold),
            (&keys.address, l.address_threshold),
            (&keys.subnet, l.subnet_threshold),
        ] {
            if key.is_empty() {
                continue;
            }
            let n = self.store.signin_failure(key, now, forget_before).await?;
            if key == &keys.account {
                account_failures = n;
            }
            if let Some(d) = delay_after(n, threshold, base, max) {
                self.store.signin_block(key, now + d).await?;
            }
        }
        // Housekeeping rides on failures: counters long quiet go.
        if now % 64 == 0 {
            self.store.purge_signin_throttle(forget_before, now).await?;
        }
        Ok(account_failures)
    }

    /// The right password from this source ends its guessing: its own
    /// counter goes. The address and subnet counters stay, so an attacker
    /// cannot reset them by signing in to an account of their own.
    pub(crate) async fn throttle_success(&self, keys: &Keys) -> Result<()> {
        self.store.signin_clear(&keys.account_source).await
    }

    /// Forgets the account-wide counter (a reset or an unlock by the owner
    /// or an administrator).
    pub(crate) async fn throttle_forget_account(&self, email: &str) -> Result<()> {
        self.store
            .signin_clear(&Keys::account_only(&self.keys, email))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_from_the_threshold_and_stop_at_the_cap() {
        assert_eq!(delay_after(4, 5, 60, 900), None);
        assert_eq!(delay_after(5, 5, 60, 900), Some(60));
        assert_eq!(delay_after(6, 5, 60, 900), Some(120));
        assert_eq!(delay_after(8, 5, 60, 900), Some(480));
        assert_eq!(delay_after(9, 5, 60, 900), Some(900));
        assert_eq!(delay_after(10_000, 5, 60, 900), Some(900));
        assert_eq!(delay_after(10_000, 0, 60, 900), None, "0 never delays");
    }

    #[test]
    fn subnets_are_slash_24_and_slash_64() {
        assert_eq!(subnet_of("203.0.113.77").as_deref(), Some("203.0.113.0/24"));
        assert_eq!(
            subnet_of("2001:db8:1:2:aaaa::1").as_deref(),
            Some("2001:db8:1:2::/64")
        );
        assert_eq!(
            subnet_of("::ffff:198.51.100.9").as_deref(),
            Some("198.51.100.0/24")
        );
        assert_eq!(subnet_of("not an address"), None);
    }
}
