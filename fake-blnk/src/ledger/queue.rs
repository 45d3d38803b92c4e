//! Blnk's default queued path, as far as a client can see it: the request is answered 201
//! `QUEUED` at once; the insert runs later in a goroutine behind `asyncTxnSemaphore` (20 slots,
//! `context.Background()`, no deadline); a worker applies it after that.
//!
//! The fake keeps one worker that takes jobs in the order they were submitted: each is stored
//! `insert_delay` after it was answered (a duplicate reference is dropped, as Blnk's unique index
//! drops it), then applied `apply_delay` later. Inflight actions and asynchronous bulks run
//! `apply_delay` after they were accepted. A test can hold the queue (Blnk under load, or stuck)
//! and release it, and wait until everything submitted has been applied.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

use super::Options;

type Work = Box<dyn FnOnce() + Send>;

/// A piece of work and when it is due.
struct Job {
    due: Instant,
    work: Work,
}

pub struct Queue {
    jobs: mpsc::UnboundedSender<Job>,
    options: Mutex<Options>,
    held: watch::Sender<bool>,
    /// Submitted and not yet finished (applied, or dropped).
    pending: AtomicUsize,
    drained: Notify,
}

impl Queue {
    /// A queue and its worker, on the current runtime.
    pub fn new(options: Options) -> Arc<Queue> {
        let (jobs, rx) = mpsc::unbounded_channel();
        let queue = Arc::new(Queue {
            jobs,
            options: Mutex::new(options),
            held: watch::channel(false).0,
            pending: AtomicUsize::new(0),
            drained: Notify::new(),
        });
        tokio::spawn(worker(Arc::downgrade(&queue), rx));
        queue
    }

    pub fn options(&self) -> Options {
        *self.options.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_options(&self, options: Options) {
        *self.options.lock().unwrap_or_else(|e| e.into_inner()) = options;
    }

    /// Nothing in the queue is stored or applied until `release`.
    pub fn hold(&self) {
        self.held.send_replace(true);
    }

    pub fn release(&self) {
        self.held.send_replace(false);
    }

    /// How many submitted tasks have not finished.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Waits until every submitted task has finished.
    pub async fn settled(&self) {
        loop {
            let notified = self.drained.notified();
            if self.pending() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Runs `insert` `insert_delay` from now, in submission order; then, if it stored something,
    /// `apply` `apply_delay` after that.
    pub fn submit<I, A, X>(self: &Arc<Self>, insert: I, apply: A)
    where
        I: FnOnce() -> Option<X> + Send + 'static,
        A: FnOnce(X) + Send + 'static,
        X: Send + 'static,
    {
        let queue = Arc::downgrade(self);
        let apply_delay = self.options().apply_delay;
        self.push(self.options().insert_delay, move || {
            let Some(x) = insert() else { return };
            let Some(queue) = queue.upgrade() else { return };
            queue.pending.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                tokio::time::sleep(apply_delay).await;
                let _ = queue.held.subscribe().wait_for(|h| !*h).await;
                apply(x);
                queue.done();
            });
        });
    }

    /// Runs `work` `apply_delay` from now, in submission order (a worker's task: inflight
    /// actions, asynchronous bulks).
    pub fn later(self: &Arc<Self>, work: impl FnOnce() + Send + 'static) {
        self.push(self.options().apply_delay, work);
    }

    fn push(&self, delay: std::time::Duration, work: impl FnOnce() + Send + 'static) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        let job = Job {
            due: Instant::now() + delay,
            work: Box::new(work),
        };
        if self.jobs.send(job).is_err() {
            self.done();
        }
    }

    fn done(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.drained.notify_waiters();
        }
    }
}

/// Takes the jobs in order, each when it is due and the queue is not held.
async fn worker(queue: std::sync::Weak<Queue>, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = rx.recv().await {
        let Some(q) = queue.upgrade() else { return };
        let mut held = q.held.subscribe();
        let _ = held.wait_for(|h| !*h).await;
        tokio::time::sleep_until(job.due).await;
        (job.work)();
        q.done();
    }
}
