//! The YAML front end: source text -> spanned tree -> IR.

pub(crate) mod lower;
pub(crate) mod tree;

pub(crate) use lower::{lower_file, lower_project_file};

/// The number of YAML events in `text` (a parse with no tree and no IR), the baseline of the
/// compiler benchmark.
pub fn count_events(text: &str) -> usize {
    saphyr_parser::Parser::new_from_str(text)
        .take_while(Result::is_ok)
        .count()
}
