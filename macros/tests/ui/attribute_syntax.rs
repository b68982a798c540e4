use cmmv_macros::contract;

#[contract(fields(title = "string"))]
pub struct Ticket {
    #[field(primary)]
    pub id: i64,
    #[field(max_length 80, 42, min_length = 1, min_length = 2)]
    pub title: String,
}

#[contract]
pub enum Priority {
    Low,
}

fn main() {}
