use cmmv_macros::contract;

#[contract]
pub mod result {
    pub struct Result {
        #[field(primary)]
        pub id: i64,
        pub r#type: String,
        pub camelCase: String,
    }

    pub enum Status {
        Unspecified,
        Open,
    }
}

fn main() {}
