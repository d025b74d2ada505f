//! Parked connections: keep-alive client connections that have been idle for a while
//! ([`PARK_AFTER`]) leave their task and wait here, in one task per listener, holding only
//! their socket and a small entry; the first byte a client sends starts a new task for its
//! connection.
//!
//! Why: an idle connection in its own task costs the task and its future (about a kilobyte);
//! parked, it costs a slot and the waker its socket holds. nginx frees an idle keep-alive
//! connection's buffers in the same spirit. The idle timeout still applies, counted from the
//! connection's last byte; stopping the listener closes every parked connection.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use crate::l7::forward::ConnInfo;
use crate::listener::{Conn, Held, until_stopped};

/// How long a connection waits in its own task before it is parked. Short, because what a
/// waiting connection holds (its task, ~800 B) stays in the process's memory after it parks:
/// 100 ms rather than 500 ms took ~230 B off each idle connection in bench/alb.sh. A client
/// that pauses longer between requests pays a task spawn when it resumes (microseconds).
pub(crate) const PARK_AFTER: Duration = Duration::from_millis(100);

/// An idle client connection, parked.
pub(crate) struct Parked {
    pub(crate) stream: TcpStream,
    pub(crate) info: Arc<ConnInfo>,
    pub(crate) held: Held,
    /// The end of its idle timeout (counted from its last byte).
    pub(crate) idle_deadline: Instant,
}

/// Where a listener's connections park.
#[derive(Clone, Debug)]
pub(crate) struct Parking {
    tx: mpsc::UnboundedSender<Parked>,
}

impl Parking {
    /// Parks a connection. After the listener stopped, this closes it.
    pub(crate) fn park(&self, parked: Parked) {
        // Err: the keeper is gone (the listener stopped); dropping the connection closes it.
        let _ = self.tx.send(parked);
    }
}

/// The keeper of a listener's parked connections, for the listener to run as one of its
/// tasks, and where its connections park. A connection whose client sends something again goes
/// to `resume` (the listener serves it in a new task). The keeper ends, closing what it holds,
/// when the listener stops.
pub(crate) fn start(
    mut stopped: watch::Receiver<bool>,
    resume: mpsc::UnboundedSender<Conn>,
) -> (Parking, impl Future<Output = ()> + Send + 'static) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let resume = move |conn: Conn| {
        // Err: the listener stopped; dropping the connection closes it.
        let _ = resume.send(conn);
    };
    let keeper = async move {
        let mut keeper = Keeper::default();
        loop {
            let next = keeper.deadlines.peek().map(|Reverse((at, _, _))| *at);
            tokio::select! {
                biased;
                () = until_stopped(&mut stopped) => break,
                () = keeper.woken.notify.notified() => {
                    for conn in keeper.take_woken() {
                        resume(conn);
                    }
                }
                parked = rx.recv() => match parked {
                    Some(p) => if let Some(conn) = keeper.park(p) {
                        resume(conn);
                    },
                    None => break,
                },
                () = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                    keeper.close_expired(Instant::now());
                }
            }
            keeper.compact();
        }
        tracing::debug!(
            parked = keeper.parked,
            "listener stopped: closing parked connections"
        );
        for p in keeper.slots.iter_mut().filter_map(|s| s.parked.take()) {
            p.info
                .counters
                .parked_connections
                .fetch_sub(1, Ordering::Relaxed);
        }
    };
    (Parking { tx }, keeper)
}

/// The parked connections of one listener.
#[derive(Default)]
struct Keeper {
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// (idle deadline, slot, generation), earliest first.
    deadlines: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    woken: Arc<Woken>,
    parked: usize,
}

#[derive(Default)]
struct Slot {
    parked: Option<Parked>,
    /// Bumped each time the slot is reused, so that a late wake-up or deadline of the
    /// connection that had it before is ignored.
    generation: u64,
}

/// Slots whose sockets became readable, and the keeper's wake-up.
#[derive(Default)]
struct Woken {
    slots: Mutex<Vec<(usize, u64)>>,
    notify: Notify,
}

/// The waker a parked socket holds: it names its slot.
struct SlotWaker {
    slot: usize,
    generation: u64,
    woken: Arc<Woken>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.woken.slots).push((self.slot, self.generation));
        self.woken.notify.notify_one();
    }
}

impl Keeper {
    /// Parks `p`, or gives it back at once when its client has sent something already.
    fn park(&mut self, p: Parked) -> Option<Conn> {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            self.slots.len() - 1
        });
        let s = &mut self.slots[slot];
        s.generation += 1;
        let waker = Waker::from(Arc::new(SlotWaker {
            slot,
            generation: s.generation,
            woken: Arc::clone(&self.woken),
        }));
        // Registers the slot's waker with the socket (the socket keeps a clone).
        if p.stream
            .poll_read_ready(&mut Context::from_waker(&waker))
            .is_ready()
        {
            tracing::debug!(client = %p.info.client, "not parked: the client sent something");
            self.free.push(slot);
            return Some(p.into_conn());
        }
        let deadline = p.idle_deadline;
        self.deadlines.push(Reverse((deadline, slot, s.generation)));
        tracing::debug!(client = %p.info.client, slot, "parked");
        p.info
            .counters
            .parked_connections
            .fetch_add(1, Ordering::Relaxed);
        s.parked = Some(p);
        self.parked += 1;
        None
    }

    fn take(&mut self, slot: usize, generation: u64) -> Option<Parked> {
        let s = self.slots.get_mut(slot)?;
        if s.generation != generation {
            return None;
        }
        let p = s.parked.take()?;
        self.free.push(slot);
        self.parked -= 1;
        p.info
            .counters
            .parked_connections
            .fetch_sub(1, Ordering::Relaxed);
        Some(p)
    }

    /// The connections whose clients sent something.
    fn take_woken(&mut self) -> Vec<Conn> {
        let woken = std::mem::take(&mut *lock(&self.woken.slots));
        woken
            .into_iter()
            .filter_map(|(slot, generation)| self.take(slot, generation))
            .map(Parked::into_conn)
            .collect()
    }

    /// Drops the deadlines of connections no longer parked when they outnumber the parked
    /// ones (a connection that parks often leaves one behind each time).
    fn compact(&mut self) {
        if self.deadlines.len() <= 2 * self.parked + 64 {
            return;
        }
        let slots = &self.slots;
        self.deadlines.retain(|Reverse((_, slot, generation))| {
            let s = &slots[*slot];
            s.generation == *generation && s.parked.is_some()
        });
    }

    /// Closes the connections idle for their idle timeout at `now`.
    fn close_expired(&mut self, now: Instant) {
        while let Some(Reverse((at, slot, generation))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if let Some(p) = self.take(slot, generation) {
                tracing::debug!(client = %p.info.client, "idle timeout: closing a parked connection");
            }
        }
    }
}

impl Parked {
    fn into_conn(self) -> Conn {
        Conn {
            stream: self.stream,
            info: self.info,
            held: self.held,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding this lock (push, take), so poison carries good data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
