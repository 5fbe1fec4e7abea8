//! One shard's view of the process-wide shutdown flag.
//!
//! A signal arrives on another thread, so the flag ([`super::Shutdown`]) has to
//! be polled. One task per shard polls it ([`ShardStop::watch`]); every
//! connection waits on the shard's [`ShardStop`] instead, with one registered
//! waker slot it keeps for its whole life. A connection polls its stop future
//! each time its read finds no data: that poll must cost no more than a flag
//! check (a glommio timer there re-armed a timer per request).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::Shutdown;

/// Completes every [`Stopped`] future of one shard once shutdown is requested.
#[derive(Default)]
pub struct ShardStop {
    stopped: Cell<bool>,
    /// A slot per waiting future; `free` lists the slots of dropped ones.
    slots: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

impl ShardStop {
    /// A shard's stop signal, with its watcher task spawned on this executor.
    pub fn watch(shutdown: Arc<Shutdown>) -> Rc<Self> {
        let stop = Rc::new(Self::default());
        let s = stop.clone();
        glommio::spawn_local(async move {
            shutdown.wait_requested().await;
            s.fire();
        })
        .detach();
        stop
    }

    /// Complete every waiter, now and from now on.
    pub fn fire(&self) {
        self.stopped.set(true);
        let wakers: Vec<Waker> = self.slots.borrow_mut().iter_mut().filter_map(Option::take).collect();
        for w in wakers {
            w.wake();
        }
    }

    /// A future that completes once the shard stops.
    pub fn stopped(self: &Rc<Self>) -> Stopped {
        Stopped { stop: self.clone(), slot: None }
    }
}

/// See [`ShardStop::stopped`]. Meant to be made once and polled many times.
pub struct Stopped {
    stop: Rc<ShardStop>,
    slot: Option<usize>,
}

impl Future for Stopped {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.stop.stopped.get() {
            return Poll::Ready(());
        }
        let slot = match self.slot {
            Some(i) => i,
            None => {
                let mut slots = self.stop.slots.borrow_mut();
                let i = self.stop.free.borrow_mut().pop().unwrap_or_else(|| {
                    slots.push(None);
                    slots.len() - 1
                });
                drop(slots);
                self.slot = Some(i);
                i
            }
        };
        let mut slots = self.stop.slots.borrow_mut();
        match &slots[slot] {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => slots[slot] = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            self.stop.slots.borrow_mut()[i] = None;
            self.stop.free.borrow_mut().push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn every_waiter_completes_once_fired_and_slots_are_reused() {
        let stop = Rc::new(ShardStop::default());
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut a = Box::pin(stop.stopped());
        let mut b = Box::pin(stop.stopped());
        // Polled again and again, a waiter keeps one slot and one waker.
        for _ in 0..100 {
            assert!(a.as_mut().poll(&mut cx).is_pending());
        }
        assert!(b.as_mut().poll(&mut cx).is_pending());
        assert_eq!(stop.slots.borrow().len(), 2);
        drop(b);
        let mut c = Box::pin(stop.stopped());
        assert!(c.as_mut().poll(&mut cx).is_pending());
        assert_eq!(stop.slots.borrow().len(), 2, "a dropped waiter's slot is reused");
        stop.fire();
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "each live waiter is woken once");
        assert!(a.as_mut().poll(&mut cx).is_ready());
        assert!(c.as_mut().poll(&mut cx).is_ready());
        assert!(Box::pin(stop.stopped()).as_mut().poll(&mut cx).is_ready(), "a waiter made after the fire completes");
    }
}
