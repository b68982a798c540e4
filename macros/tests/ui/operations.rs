use cmmv_macros::contract;

#[contract(crud = [list, get, fetch])]
pub mod ticket {
    pub struct Ticket {
        #[field(primary)]
        pub id: i64,
    }

    pub trait Operations {
        #[operation(method = "FETCH", path = "/{id}/close")]
        fn close(reason: String);

        fn reopen();

        #[operation(method = "GET", path = "/{id}/archive", request = Ticket, versions = [2])]
        fn archive();
    }
}

fn main() {}
