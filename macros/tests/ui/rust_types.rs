use cmmv_macros::contract;

#[contract]
pub struct Ticket {
    #[field(primary)]
    pub id: i64,
    pub count: u32,
    pub owner: &'static str,
    pub scores: HashMap<u32, i64>,
    #[field(optional)]
    pub title: String,
    pub labels: Vec<Vec<String>>,
}

fn main() {}
