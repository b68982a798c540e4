//! Splitting independent work across the machine's cores without a thread pool: the compiler
//! runs once per build, and two scoped threads cover the two-core machines it is measured on.

use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Runs `first` on a second thread while this one works through `items`; when `first` is
/// done, its thread takes items too. Two jobs of unequal size keep both cores busy to the end
/// this way, where a thread each would leave one idle. Results keep the items' order, so output
/// never depends on the threads.
pub(crate) fn alongside<A: Send, T: Sync, R: Send>(
    first: impl FnOnce() -> A + Send,
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
) -> (A, Vec<R>) {
    let next = AtomicUsize::new(0);
    let take = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else {
                return done;
            };
            done.push((index, work(item)));
        }
    };
    let (first, mut theirs, mut mine) = std::thread::scope(|scope| {
        let other = scope.spawn(|| {
            let first = first();
            (first, take())
        });
        let mine = take();
        match other.join() {
            Ok((first, theirs)) => (first, theirs, mine),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    mine.append(&mut theirs);
    mine.sort_unstable_by_key(|(index, _)| *index);
    (first, mine.into_iter().map(|(_, result)| result).collect())
}
