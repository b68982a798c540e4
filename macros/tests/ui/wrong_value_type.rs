use cmmv_macros::contract;

#[contract(versions = 1)]
pub struct Ticket {
    #[field(primary)]
    pub id: i64,
    #[field(max_length = "eighty", filterable = "yes")]
    pub title: String,
}

fn main() {}
