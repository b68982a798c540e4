use cmmv_macros::contract;

#[contract(pagnation(max_limit = 50))]
pub struct Ticket {
    #[field(primary)]
    pub id: i64,
    #[field(mx_length = 80)]
    pub title: String,
}

// Code using what the item declares still compiles: the failed expansion leaves the struct,
// so the only errors are the contract's own.
fn title_of(ticket: &Ticket) -> &str {
    &ticket.title
}

fn main() {
    let ticket = Ticket { id: 1, title: String::new() };
    let _ = (ticket.id, title_of(&ticket));
}
