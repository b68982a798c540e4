//! The YAML front end: source text -> spanned tree -> IR.

mod lower;
pub(crate) mod tree;

pub use lower::{LIST_PARAMS, lower_file, lower_project_file};
