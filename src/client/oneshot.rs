//! A one-shot reply slot for a single thread: how a pipelined connection's
//! reader hands each caller its response. One allocation per call, no
//! queue: glommio's `local_channel` (a bounded queue with waiter lists) cost
//! the load generator ~6% of its samples at P16 in its polls, sends and
//! setup.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct Slot<T> {
    value: Cell<Option<T>>,
    waker: Cell<Option<Waker>>,
    /// The sender is gone (after sending, or without).
    closed: Cell<bool>,
}

/// Sends at most one value; dropping it unsent makes the receiver get `None`.
pub struct Sender<T>(Rc<Slot<T>>);

/// Completes with the value sent, or `None` once the sender is dropped unsent.
pub struct Receiver<T>(Rc<Slot<T>>);

pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Rc::new(Slot { value: Cell::new(None), waker: Cell::new(None), closed: Cell::new(false) });
    (Sender(slot.clone()), Receiver(slot))
}

impl<T> Sender<T> {
    pub fn send(self, value: T) {
        self.0.value.set(Some(value));
        // Drop wakes the receiver.
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.0.closed.set(true);
        if let Some(w) = self.0.waker.take() {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Option<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(v) = self.0.value.take() {
            return Poll::Ready(Some(v));
        }
        if self.0.closed.get() {
            return Poll::Ready(None);
        }
        let w = match self.0.waker.take() {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        };
        self.0.waker.set(Some(w));
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn a_value_sent_before_or_after_the_first_poll_arrives() {
        let (tx, rx) = channel();
        tx.send(1);
        assert_eq!(block_on(rx), Some(1));

        let (tx, mut rx) = channel();
        assert_eq!(block_on(poll_once(&mut rx)), None, "nothing sent yet");
        tx.send(2);
        assert_eq!(block_on(rx), Some(2));
    }

    #[test]
    fn a_sender_dropped_unsent_wakes_the_receiver_with_none() {
        let (tx, mut rx) = channel::<u32>();
        assert_eq!(block_on(poll_once(&mut rx)), None);
        drop(tx);
        assert_eq!(block_on(rx), None);
    }

    #[test]
    fn the_waiting_task_is_woken() {
        // A receiver polled by a real executor completes once another task sends.
        let out = glommio::LocalExecutorBuilder::default()
            .spawn(|| async move {
                let (tx, rx) = channel();
                // Queued first, so it polls (and waits) before the sender runs.
                let t = glommio::spawn_local(rx);
                glommio::spawn_local(async move { tx.send(7) }).detach();
                glommio::timer::timeout(std::time::Duration::from_secs(10), async { Ok(t.await) }).await
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(out.expect("woken within 10 s"), Some(7));
    }
}
