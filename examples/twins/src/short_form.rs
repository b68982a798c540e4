//! The short form: `#[contract]` on a struct declares a contract of fields only, and the
//! struct is replaced by the generated items. (Not part of the twins' comparison: this
//! directory is outside the build script's `rust_sources`.)

/// A label for tickets.
#[cmmv::contract(path = "/labels", crud = [list, get, create], auth = public)]
pub struct Label {
    #[field(primary)]
    pub id: Uuid,
    #[field(min_length = 1, max_length = 30, unique)]
    pub name: String,
    #[field(pattern = r"^#[0-9a-f]{6}$", default = "#cccccc")]
    pub colour: String,
}
