//! `return_to` checking lives in `portcullis_wire::return_to`, so the fuzz
//! targets link it without the core.
pub use portcullis_wire::return_to::*;
