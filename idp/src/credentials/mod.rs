//! Passwords: argon2id hashing on a bounded blocking pool, and the policy
//! new passwords must meet.

mod hasher;
mod policy;

pub use hasher::Hasher;
pub use policy::{ChecklistRule, check_policy, policy_checklist, policy_rules};
