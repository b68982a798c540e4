use cmmv_macros::contract;

#[contract]
pub mod ticket {
    pub struct Ticket {
        #[field(primary)]
        pub id: i64,
    }

    pub trait Operations {
        #[operation(method = "GET", path = "/{ticket_id}")]
        fn fetch();

        #[operation(method = "POST", path = "/{id}/close")]
        fn close();

        #[operation(method = "POST", path = "/{id}/close")]
        fn shut();
    }
}

fn main() {}
