//! Gateway policies: their files' validation status, and reloading them
//! through the hook the binary registered ([`crate::policy_hook`]).

use super::{Actor, AdminError, Record, Result};
use crate::idp::Idp;
pub use crate::policy_hook::{PolicyFile, PolicyStatus};

/// The status of the gateway's policy files; none in a process that serves
/// no gateway.
pub async fn status(idp: &Idp) -> Option<PolicyStatus> {
    match idp.policies.get() {
        Some(hook) => Some(hook.status().await),
        None => None,
    }
}

/// Reads the policy files again and, when every one is valid, serves them
/// and binds their applications in the directory. A refused reload keeps
/// the running policies; either way the answer says how each file fared,
/// and one audit row records it (a failure when something was refused).
pub async fn reload(idp: &Idp, actor: &Actor) -> Result<PolicyStatus> {
    let Some(hook) = idp.policies.get() else {
        return Err(AdminError::Invalid {
            field: None,
            message: "this process serves no gateway policies, so there is nothing to reload"
                .into(),
        });
    };
    let status = hook.reload().await;
    let record = Record::new("admin.policies.reload");
    if status.applied {
        record
            .detail(format!("{} policies served", status.served))
            .write(idp, actor)
            .await;
    } else {
        let mut why: Vec<String> = status
            .files
            .iter()
            .filter_map(|f| f.error.as_ref().map(|e| format!("{}: {e}", f.file)))
            .collect();
        why.extend(status.error.clone());
        record
            .failed()
            .detail(format!(
                "refused, the running policies stay: {}",
                why.join("; ")
            ))
            .write(idp, actor)
            .await;
    }
    Ok(status)
}
