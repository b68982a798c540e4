//! Splitting independent work across the machine's cores without a thread pool: the compiler
//! runs once per build, and two scoped threads cover the two-core machines it is measured on.

/// `work` applied to the first and the second half of `items` on two threads, in that order.
/// Results keep the items' order, so output never depends on the threads.
pub(crate) fn in_halves<T: Send, R: Send>(
    mut items: Vec<T>,
    work: impl Fn(Vec<T>) -> R + Sync,
) -> [R; 2] {
    let second = items.split_off(items.len() / 2);
    let work = &work;
    std::thread::scope(|scope| {
        let other = scope.spawn(move || work(second));
        let first = work(items);
        match other.join() {
            Ok(second) => [first, second],
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Runs `a` and `b` side by side and returns both results.
pub(crate) fn join<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    std::thread::scope(|scope| {
        let other = scope.spawn(b);
        let first = a();
        match other.join() {
            Ok(second) => (first, second),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
