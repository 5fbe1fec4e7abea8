//! The write side of a pipelined connection (server or client): tasks append
//! encoded frames to an [`Outbox`]; one writer task swaps the buffer out and
//! writes it in one go, so whatever is ready shares a write (natural batching).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures_lite::{AsyncWrite, AsyncWriteExt};

use crate::storage::notify::Notify;

#[derive(Default)]
pub struct Outbox {
    buf: RefCell<Vec<u8>>,
    closing: Cell<bool>,
    ready: Notify,
}

impl Outbox {
    /// Append bytes (through `encode`) and wake the writer.
    pub fn push(&self, encode: impl FnOnce(&mut Vec<u8>)) {
        encode(&mut self.buf.borrow_mut());
        self.ready.notify_all();
    }

    /// Ask the writer to flush what is queued, then close the stream.
    pub fn close(&self) {
        self.closing.set(true);
        self.ready.notify_all();
    }

    pub fn is_closing(&self) -> bool {
        self.closing.get()
    }
}

/// Write everything pushed to `outbox` until it is closed (then flush and
/// close `wr`) or a write fails (returned; the outbox is then closed too).
pub async fn write_loop(mut wr: impl AsyncWrite + Unpin, outbox: Rc<Outbox>) -> std::io::Result<()> {
    let mut spare = Vec::new();
    let result = loop {
        let wait = outbox.ready.wait();
        if outbox.buf.borrow().is_empty() {
            if outbox.closing.get() {
                break Ok(());
            }
            wait.await;
            continue;
        }
        std::mem::swap(&mut spare, &mut *outbox.buf.borrow_mut());
        if let Err(e) = async {
            wr.write_all(&spare).await?;
            wr.flush().await
        }
        .await
        {
            outbox.close();
            break Err(e);
        }
        spare.clear();
    };
    let _ = wr.close().await;
    result
}
