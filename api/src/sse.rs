//! Server-Sent Events as Herald writes them: lean enough for tens of thousands of
//! open streams.
//!
//! - Frames are encoded once per outcome ([`crate::outcomes::Finished`]) and the
//!   same bytes are written to every stream that wants them.
//! - One [`pulse`] for the whole process beats the heartbeats and announces the
//!   shutdown: no timer per stream.
//! - A stream holds its source (a waiter, a group of waiters, the feed's receiver),
//!   a receiver of the pulse, and a [`Ticket`] that counts it against the cap on
//!   open streams ([`Streams`]). That is all.
//!
//! On shutdown every stream sends `retry: 1000` and ends, so that EventSource
//! comes back (to another instance) within a second.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures::{Stream, StreamExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::CancellationToken;

/// A comment: keeps proxies and browsers from taking a quiet stream for a dead one.
pub const HEARTBEAT: Bytes = Bytes::from_static(b": heartbeat\n\n");
/// Tells EventSource to reconnect one second after the stream ends.
pub const COME_BACK: Bytes = Bytes::from_static(b"retry: 1000\n\n");

/// What the process-wide pulse says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Time for a heartbeat (the count of them so far).
    Tick(u64),
    /// The process is shutting down: every stream ends.
    Closing,
}

/// Beats every `every` until `shutdown`, then says [`Beat::Closing`] once.
pub fn pulse(
    every: Duration,
    shutdown: CancellationToken,
) -> (watch::Receiver<Beat>, JoinHandle<()>) {
    let (sender, receiver) = watch::channel(Beat::Tick(0));
    let task = tokio::spawn(async move {
        let mut timer = tokio::time::interval(every);
        timer.reset();
        let mut beats = 0;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = timer.tick() => {
                    beats += 1;
                    sender.send_replace(Beat::Tick(beats));
                }
            }
        }
        sender.send_replace(Beat::Closing);
    });
    (receiver, task)
}

/// The cap on open event streams, and their count.
#[derive(Debug, Clone)]
pub struct Streams {
    open: Arc<AtomicUsize>,
    max: usize,
}

/// One open stream's place under the cap; given back when dropped.
#[derive(Debug)]
pub struct Ticket(Arc<AtomicUsize>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Streams {
    pub fn new(max: usize) -> Self {
        Self {
            open: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// A place for one more stream, unless `max` are open.
    pub fn open(&self) -> Option<Ticket> {
        self.open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |open| {
                (open < self.max).then_some(open + 1)
            })
            .ok()
            .map(|_| Ticket(self.open.clone()))
    }

    /// How many are open.
    pub fn count(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

/// An event stream: `first` frames, then what `source` yields (the stream ends
/// with it), with heartbeats in between, until the pulse says the process closes.
pub struct EventStream<S> {
    first: VecDeque<Bytes>,
    source: Option<S>,
    pulse: WatchStream<Beat>,
    closing: bool,
    _ticket: Ticket,
}

impl<S> std::fmt::Debug for EventStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("first", &self.first.len())
            .field("ended", &self.source.is_none())
            .finish()
    }
}

impl<S: Stream<Item = Bytes> + Unpin> EventStream<S> {
    /// A stream sending `first`, then `source` (nothing more if `None`).
    pub fn new(
        ticket: Ticket,
        pulse: &watch::Receiver<Beat>,
        first: impl IntoIterator<Item = Bytes>,
        source: Option<S>,
    ) -> Self {
        let closing = *pulse.borrow() == Beat::Closing;
        Self {
            first: first.into_iter().collect(),
            source,
            pulse: WatchStream::from_changes(pulse.clone()),
            closing,
            _ticket: ticket,
        }
    }

    /// The `200 text/event-stream` response carrying this stream.
    pub fn into_response(self) -> Response
    where
        S: Send + 'static,
    {
        let mut response = Response::new(Body::from_stream(self));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        // Tells proxies such as nginx not to buffer the stream.
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        response
    }
}

impl<S: Stream<Item = Bytes> + Unpin> Stream for EventStream<S> {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(frame) = self.first.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if self.closing {
            // `COME_BACK` went out last; or the stream is ending now.
            return match self.source.take() {
                Some(_) => Poll::Ready(Some(Ok(COME_BACK))),
                None => Poll::Ready(None),
            };
        }
        let Some(source) = self.source.as_mut() else {
            return Poll::Ready(None);
        };
        match source.poll_next_unpin(cx) {
            Poll::Ready(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
            Poll::Ready(None) => {
                self.source = None;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        match self.pulse.poll_next_unpin(cx) {
            Poll::Ready(Some(Beat::Tick(_))) => Poll::Ready(Some(Ok(HEARTBEAT))),
            Poll::Ready(Some(Beat::Closing) | None) => {
                self.closing = true;
                self.source = None;
                Poll::Ready(Some(Ok(COME_BACK)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(
        streams: &Streams,
        pulse: &watch::Receiver<Beat>,
        first: &[&'static [u8]],
        source: Option<futures::channel::mpsc::UnboundedReceiver<Bytes>>,
    ) -> EventStream<futures::channel::mpsc::UnboundedReceiver<Bytes>> {
        let first = first.iter().map(|frame| Bytes::from_static(frame));
        EventStream::new(streams.open().expect("a place"), pulse, first, source)
    }

    async fn collect<S: Stream<Item = Bytes> + Unpin>(stream: EventStream<S>) -> Vec<Bytes> {
        stream
            .map(|frame| frame.expect("infallible"))
            .collect()
            .await
    }

    #[tokio::test]
    async fn first_frames_then_the_source_then_the_end() {
        let streams = Streams::new(1);
        let (_beat, pulse) = watch::channel(Beat::Tick(0));
        let (sender, receiver) = futures::channel::mpsc::unbounded();
        sender
            .unbounded_send(Bytes::from_static(b"b"))
            .expect("open");
        drop(sender);
        let frames = collect(stream(&streams, &pulse, &[b"a"], Some(receiver))).await;
        assert_eq!(frames, [&b"a"[..], b"b"]);
        let frames = collect(stream(&streams, &pulse, &[b"only"], None)).await;
        assert_eq!(frames, [&b"only"[..]]);
    }

    #[tokio::test(start_paused = true)]
    async fn one_pulse_beats_every_stream_and_ends_them_on_shutdown() {
        let streams = Streams::new(2);
        let shutdown = CancellationToken::new();
        let (pulse, task) = pulse(Duration::from_secs(15), shutdown.clone());
        let (_sender, receiver) = futures::channel::mpsc::unbounded::<Bytes>();
        let mut waiting = stream(&streams, &pulse, &[], Some(receiver));
        assert_eq!(
            waiting.next().await.expect("a frame").expect("ok"),
            HEARTBEAT
        );
        shutdown.cancel();
        task.await.expect("the pulse ends");
        assert_eq!(
            waiting.next().await.expect("a frame").expect("ok"),
            COME_BACK
        );
        assert!(waiting.next().await.is_none());
        // A stream opened while closing says so at once.
        let (_sender, receiver) = futures::channel::mpsc::unbounded::<Bytes>();
        let frames = collect(stream(&streams, &pulse, &[], Some(receiver))).await;
        assert_eq!(frames, [COME_BACK]);
    }

    #[test]
    fn the_cap_counts_open_streams_and_frees_their_place() {
        let streams = Streams::new(2);
        let first = streams.open().expect("one");
        let _second = streams.open().expect("two");
        assert!(streams.open().is_none());
        assert_eq!(streams.count(), 2);
        drop(first);
        assert!(streams.open().is_some());
    }
}
