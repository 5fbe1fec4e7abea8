//! A single-threaded "wake everyone waiting" signal for tasks of one shard.
//!
//! A [`Wait`] holds one slot in the waiter list however often it is polled,
//! and gives it up when dropped. Waits raced against a timer (`or`) are
//! dropped unfinished again and again by long-lived loops, and polled again
//! by every wake-up of their task: without that, the list would gain a waker
//! each time, until the next `notify_all` woke one task that many times.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct Notify {
    generation: Cell<u64>,
    next_slot: Cell<u64>,
    /// The waiting Waits, by slot.
    waiters: RefCell<Vec<(u64, Waker)>>,
}

impl Notify {
    /// Wake every task waiting now.
    pub fn notify_all(&self) {
        self.generation.set(self.generation.get() + 1);
        for (_, w) in self.waiters.take() {
            w.wake();
        }
    }

    /// Completes at the next `notify_all` after this call.
    pub fn wait(&self) -> Wait<'_> {
        Wait { notify: self, generation: self.generation.get(), slot: None }
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }
}

pub struct Wait<'a> {
    notify: &'a Notify,
    generation: u64,
    /// This Wait's entry in `notify.waiters`, once it has been polled.
    slot: Option<u64>,
}

impl Wait<'_> {
    fn notified(&self) -> bool {
        self.notify.generation.get() != self.generation
    }
}

impl Future for Wait<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notified() {
            // `notify_all` emptied the list, this slot with it.
            self.slot = None;
            return Poll::Ready(());
        }
        let notify = self.notify;
        let mut waiters = notify.waiters.borrow_mut();
        match self.slot.and_then(|s| waiters.iter_mut().find(|(slot, _)| *slot == s)) {
            Some((_, w)) => {
                if !w.will_wake(cx.waker()) {
                    w.clone_from(cx.waker());
                }
            }
            None => {
                let slot = notify.next_slot.get();
                notify.next_slot.set(slot + 1);
                waiters.push((slot, cx.waker().clone()));
                self.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        let Some(slot) = self.slot else { return };
        if self.notified() {
            return;
        }
        let mut waiters = self.notify.waiters.borrow_mut();
        if let Some(i) = waiters.iter().rposition(|(s, _)| *s == slot) {
            waiters.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn poll(w: &mut Wait<'_>, waker: &Waker) -> Poll<()> {
        Pin::new(w).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_wait_holds_one_slot_however_often_polled_and_frees_it_when_dropped() {
        let n = Notify::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        // A loop that races a wait against a timer, as the compaction and
        // sync loops do: polled, dropped unfinished, again.
        for _ in 0..1000 {
            let mut w = n.wait();
            for _ in 0..3 {
                assert!(poll(&mut w, &waker).is_pending());
            }
            assert_eq!(n.waiting(), 1);
        }
        assert_eq!(n.waiting(), 0);
        // Polled by another task's waker: still one slot, now waking that task.
        let other = Arc::new(Count(AtomicUsize::new(0)));
        let mut w = n.wait();
        assert!(poll(&mut w, &waker).is_pending());
        assert!(poll(&mut w, &Waker::from(other.clone())).is_pending());
        assert_eq!(n.waiting(), 1);
        n.notify_all();
        assert_eq!((count.0.load(Ordering::Relaxed), other.0.load(Ordering::Relaxed)), (0, 1));
        assert!(poll(&mut w, &waker).is_ready());
        drop(w);
        assert_eq!(n.waiting(), 0);
    }

    #[test]
    fn notify_all_wakes_every_waiter_once_and_later_waits_wait_again() {
        let n = Notify::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut ws: Vec<_> = (0..5).map(|_| n.wait()).collect();
        for w in &mut ws {
            assert!(poll(w, &waker).is_pending());
        }
        // Dropping one of them leaves the others' slots.
        ws.remove(2);
        assert_eq!(n.waiting(), 4);
        n.notify_all();
        assert_eq!(count.0.load(Ordering::Relaxed), 4);
        assert!(ws.iter_mut().all(|w| poll(w, &waker).is_ready()));
        // A Wait made after the notify waits for the next one.
        let mut later = n.wait();
        assert!(poll(&mut later, &waker).is_pending());
        drop(ws);
        assert_eq!(n.waiting(), 1);
        n.notify_all();
        assert!(poll(&mut later, &waker).is_ready());
    }
}
