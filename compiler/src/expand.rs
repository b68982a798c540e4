//! The `#[contract]` proc macro's expansion: a driver above the front end and the Rust emitter,
//! as `compile` is for files, so that neither of them calls the other.

use proc_macro2::TokenStream;

use crate::frontend::rust::{LoweredItem, lower_item, place};

/// Expands `#[contract(args)] item`: the item's contract as generated Rust (types, validation,
/// handler trait, routes), or, when anything is wrong, every problem as a `compile_error!` at
/// its tokens plus a stub of the item (see [`LoweredItem::Failed`]).
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    match lower_item(args, item) {
        LoweredItem::Contract {
            project,
            name,
            item,
        } => {
            let generated = project
                .contracts
                .get(&name)
                .map(|contract| crate::emit::rust::emit_contract(&project, contract))
                .unwrap_or_default();
            place(&item, generated)
        }
        LoweredItem::Failed(expansion) => expansion,
    }
}
