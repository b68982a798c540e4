//! `#[contract]` procedural macros of CMMV for Rust. The entry points stay a few lines long
//! and call into `cmmv-compiler`; the macro front end arrives with its own issue.
