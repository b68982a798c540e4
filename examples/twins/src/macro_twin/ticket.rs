//! The `Ticket` contract of `contracts/ticket.yaml`, declared with `#[contract]`.

#[cmmv::contract(
    auth(roles = ["agent"]),
    rate_limit = "tickets",
    crud(
        list(auth = public),
        get(auth = public),
        create(auth = public, rate_limit(limit = 3, per = "1m", key = "ip")),
        delete(auth(roles = ["admin"])),
    )
)]
pub mod ticket {
    /// A support ticket.
    pub struct Ticket {
        #[field(primary)]
        pub id: Uuid,
        #[field(min_length = 3, max_length = 80, filterable, sortable)]
        pub title: String,
        #[field(values = [low, normal, high], default = normal, filterable)]
        pub priority: TicketPriority,
        pub severity: Option<Severity>,
        #[field(nullable, max_length = 500)]
        pub notes: Option<String>,
        #[field(minimum = 1, maximum = 40)]
        pub estimate: Option<i32>,
        #[field(max_items = 5, default = [], items(min_length = 1, max_length = 20))]
        pub tags: Vec<String>,
    }

    /// How bad it is.
    pub enum Severity {
        Minor,
        Major,
        Critical,
    }

    /// Why a ticket is closed.
    #[message]
    pub struct CloseTicket {
        #[field(min_length = 1, max_length = 200)]
        pub reason: String,
    }

    pub trait Operations {
        /// Close a ticket.
        #[operation(
            method = "POST",
            path = "/{id}/close",
            request = CloseTicket,
            response = Ticket,
            auth = public,
            rate_limit(limit = 10, per = "1m", key = "ip"),
        )]
        fn close();
    }
}
