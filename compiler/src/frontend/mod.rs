//! Front ends: each turns one kind of source into the IR, collecting every diagnostic.

pub(crate) mod rust;
pub(crate) mod yaml;
