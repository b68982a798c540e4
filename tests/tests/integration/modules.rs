//! The runtime's modules are written against their contracts: the Rust the runtime holds for
//! each (`runtime/src/auth/contract.rs` for the login module) is exactly what the compiler
//! generates from the contract it ships (`compiler/modules/<name>.yaml`), which is also what
//! a project's documents say of the module. A change to either side without the other fails
//! here; `CMMV_UPDATE_MODULES=1` rewrites the runtime's copy.

use std::path::Path;

use cmmv_compiler::ir::Module;

/// Where the runtime keeps the generated items of `module`.
fn runtime_copy(module: Module) -> &'static str {
    match module {
        Module::Login => "runtime/src/auth/contract.rs",
    }
}

#[test]
fn the_runtime_serves_the_modules_as_their_contracts_declare() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let update = std::env::var_os("CMMV_UPDATE_MODULES").is_some();
    let mut stale = Vec::new();
    for module in Module::ALL {
        let generated = match cmmv_compiler::module_rust(module) {
            Ok(text) => text,
            Err(error) => panic!(
                "the `{}` module's contract does not compile:\n{error}",
                module.name()
            ),
        };
        let path = root.join(runtime_copy(module));
        let held = std::fs::read_to_string(&path).unwrap_or_default();
        if held == generated {
            continue;
        }
        if update {
            std::fs::write(&path, &generated).expect("the runtime's copy is writable");
        } else {
            stale.push(runtime_copy(module));
        }
    }
    assert!(
        stale.is_empty(),
        "the runtime's copies {stale:?} differ from what their contracts generate: run the tests with CMMV_UPDATE_MODULES=1 and review the change"
    );
}
