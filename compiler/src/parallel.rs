//! Splitting independent work across the machine's cores without a thread pool: the compiler
//! runs once per build, and two scoped threads cover the two-core machines it is measured on.
//!
//! Lists of work are shared out item by item from one cursor rather than cut in halves, so that
//! a thread slowed down (by bigger items, or by a busy machine) simply takes fewer of them.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `work` applied to every item on two threads, the results in the items' order, so output
/// never depends on the threads.
pub(crate) fn map<'i, T: Sync, R: Send>(
    items: &'i [T],
    work: impl Fn(&'i T) -> R + Sync,
) -> Vec<R> {
    let cursor = AtomicUsize::new(0);
    let (mine, theirs) = join(
        || take_turns(&cursor, items, &work),
        || take_turns(&cursor, items, &work),
    );
    in_item_order(mine, theirs)
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
/// this way, where a thread each would leave one idle. Results keep the items' order.
pub(crate) fn alongside<'i, A: Send, T: Sync, R: Send>(
    first: impl FnOnce() -> A + Send,
    items: &'i [T],
    work: impl Fn(&'i T) -> R + Sync,
) -> (A, Vec<R>) {
    let cursor = AtomicUsize::new(0);
    let (mine, (first, theirs)) = join(
        || take_turns(&cursor, items, &work),
        || (first(), take_turns(&cursor, items, &work)),
    );
    (first, in_item_order(mine, theirs))
}

/// Takes the item under the shared `cursor` and moves it on, until no item is left; returns
/// what `work` made of each item taken, with the item's index.
fn take_turns<'i, T, R>(
    cursor: &AtomicUsize,
    items: &'i [T],
    work: &impl Fn(&'i T) -> R,
) -> Vec<(usize, R)> {
    let mut done = Vec::new();
    loop {
        let index = cursor.fetch_add(1, Ordering::Relaxed);
        let Some(item) = items.get(index) else {
            return done;
        };
        done.push((index, work(item)));
    }
}

/// The results two threads took turns making, back in the order of their items.
fn in_item_order<R>(mut mine: Vec<(usize, R)>, mut theirs: Vec<(usize, R)>) -> Vec<R> {
    mine.append(&mut theirs);
    mine.sort_unstable_by_key(|(index, _)| *index);
    mine.into_iter().map(|(_, result)| result).collect()
}
