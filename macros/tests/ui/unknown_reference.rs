use cmmv_macros::contract;

#[contract]
pub mod ticket {
    pub struct Ticket {
        #[field(primary)]
        pub id: i64,
        pub severity: Severty,
    }

    pub enum Severity {
        Minor,
        Major,
    }

    #[message]
    pub struct CloseTicket {
        pub reason: String,
    }

    pub trait Operations {
        #[operation(method = "POST", path = "/{id}/close", request = CloseTiket)]
        fn close();
    }
}

fn main() {}
