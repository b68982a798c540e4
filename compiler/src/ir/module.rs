//! The runtime's modules a project mounts, each declared as a contract shipped with the
//! compiler.

/// A module of the runtime that a project mounts and documents through a built-in contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Module {
    /// `cmmv::auth::Login`: `/auth/register`, `/auth/login`, ..., and API keys.
    Login,
}

impl Module {
    pub const ALL: [Module; 1] = [Module::Login];

    /// The name `cmmv.yaml` lists it by.
    pub fn name(self) -> &'static str {
        match self {
            Module::Login => "login",
        }
    }

    pub fn from_name(name: &str) -> Option<Module> {
        Module::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The contract declaring the module, as shipped with the compiler.
    pub fn contract_source(self) -> &'static str {
        match self {
            Module::Login => include_str!("../../modules/login.yaml"),
        }
    }

    /// The name its contract's diagnostics show.
    pub fn file_name(self) -> &'static str {
        match self {
            Module::Login => "<cmmv>/modules/login.yaml",
        }
    }
}
