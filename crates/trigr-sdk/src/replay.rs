//! How far an execution has come through the journal it replays.
//!
//! A durable operation takes the next *position* when the code calls it. While the code has
//! not yet reached the last journaled position, it is re-running what an earlier execution of
//! the attempt (before a suspension) or of an earlier attempt already ran: its journaled steps
//! return their recorded results, and the log lines it writes on the way were shipped by that
//! earlier execution, so the logger keeps them to the worker's own output ([`Replay::replaying`]).

use std::sync::atomic::{AtomicU32, Ordering};

/// The position cursor of one execution, shared by its durable operations and its logger.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    next: AtomicU32,
    /// One past the highest journaled position (0: nothing to replay).
    journaled_until: u32,
}

impl Replay {
    /// A cursor at position 0 of a journal holding these positions.
    pub(crate) fn new(positions: impl IntoIterator<Item = u32>) -> Replay {
        Replay {
            next: AtomicU32::new(0),
            journaled_until: positions
                .into_iter()
                .max()
                .map_or(0, |p| p.saturating_add(1)),
        }
    }

    /// The position of the next durable operation, in the order the code reaches them.
    pub(crate) fn next_position(&self) -> u32 {
        self.next.fetch_add(1, Ordering::SeqCst)
    }

    /// Takes `n` consecutive positions at once and answers the first: operations that run in
    /// an order decided at run time (a plan's actions) keep fixed positions within the block.
    pub(crate) fn reserve(&self, n: u32) -> u32 {
        self.next.fetch_add(n, Ordering::SeqCst)
    }

    /// Whether the code has not yet called the operation at the last journaled position: what
    /// it does now, an earlier execution did before.
    pub(crate) fn replaying(&self) -> bool {
        self.next.load(Ordering::SeqCst) < self.journaled_until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_until_the_last_journaled_operation_is_called() {
        let r = Replay::new([0, 2, 1]);
        assert!(r.replaying());
        assert_eq!(r.next_position(), 0);
        assert_eq!(r.next_position(), 1);
        assert!(r.replaying(), "position 2 is still ahead");
        assert_eq!(r.next_position(), 2);
        assert!(!r.replaying(), "past the journal");
        assert!(
            !Replay::new([]).replaying(),
            "a first execution replays nothing"
        );
    }

    #[test]
    fn a_reserved_block_moves_the_cursor_past_it() {
        let r = Replay::new([]);
        assert_eq!(r.next_position(), 0);
        assert_eq!(r.reserve(5), 1, "positions 1-5 are the block's");
        assert_eq!(r.next_position(), 6);
    }
}
