//! Front ends: each turns one kind of source into the IR, collecting every diagnostic.

pub mod rust;
pub mod yaml;
