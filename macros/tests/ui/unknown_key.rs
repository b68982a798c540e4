use cmmv_macros::contract;

#[contract(pagnation(max_limit = 50))]
pub struct Ticket {
    #[field(primary)]
    pub id: i64,
    #[field(mx_length = 80)]
    pub title: String,
}

fn main() {}
