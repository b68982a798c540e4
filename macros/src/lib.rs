//! `#[contract]` procedural macros of CMMV for Rust. The entry points stay a few lines long and
//! call the compiler's Rust front end, which shares the YAML front end's lowering, checks and
//! emitters; see `cmmv_compiler::frontend::rust`.

use proc_macro::TokenStream;

/// Declares a contract: on a struct (the resource), or on an inline module holding the
/// resource struct, `#[message]` structs, enums and a trait of `#[operation(...)]` functions.
/// Expands to the contract's generated Rust; see `docs/contracts.md` for the keys.
#[proc_macro_attribute]
pub fn contract(args: TokenStream, item: TokenStream) -> TokenStream {
    cmmv_compiler::expand::expand(args.into(), item.into()).into()
}
