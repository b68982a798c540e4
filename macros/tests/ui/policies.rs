use cmmv_macros::contract;

#[contract(
    auth(roles = [], require = "everything"),
    rate_limit(limit = 0, per = "1 minute", key = "cookie"),
    storage(timestamps, table = "Tickets"),
)]
pub struct Ticket {
    #[field(primary)]
    pub id: i64,
    #[field(read_only)]
    pub score: i32,
}

fn main() {}
