use cmmv_macros::contract;

#[contract]
pub struct Ticket {
    #[field(primary)]
    pub id: i64,
    #[field(min_length = 10, max_length = 5)]
    pub title: String,
    #[field(minimum = 1, maximum = 40, default = 50)]
    pub estimate: i32,
    #[field(pattern = "[a-z")]
    pub code: String,
}

fn main() {}
