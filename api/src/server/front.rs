//! The fast path for event streams on plain HTTP/1.1 connections.
//!
//! A held event stream does nothing for minutes, yet through hyper it keeps what
//! any connection keeps for its whole life: an 8 KiB write buffer, an 8–16 KiB
//! read buffer and a task of about 5 KiB (see the README's heap profile). For a
//! crowd of waiting browsers that is most of the api's memory. So the server
//! reads a plain HTTP/1.1 connection's first request head itself; when it is a
//! `GET` of one of the event streams, it writes the stream itself, holding only
//! the socket, a small task and the stream's waiter. The stream's events are the
//! same bytes ([`crate::streams`]), built by the same code as the routes'.
//!
//! Everything else goes to hyper and axum, with the bytes already read, as if
//! nothing had looked at them: other requests, HTTP/2, a head with a body or with
//! something pipelined behind it, a request from another origin (which needs the
//! CORS answer), and any stream that cannot be opened (an unknown command, a bad
//! id, the cap reached, NATS down), whose error answer axum writes. A stream that
//! ends leaves the connection open for the next request, which is looked at again.

use std::time::Duration;

use axum::body::Bytes;
use futures::StreamExt;
use std::io::IoSlice;

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::prefixed::Prefixed;
use crate::state::SharedState;
use crate::streams::{self, Frames};

/// The longest request head looked at; a longer one goes to hyper (431).
const MAX_HEAD: usize = 16 * 1024;
/// Headers parsed at most; a request with more goes to hyper.
const MAX_HEADERS: usize = 32;

/// The head of a `200` event stream, in chunked transfer encoding, up to its
/// request id (see [`stream_head`]).
const STREAM_HEAD: &str = "HTTP/1.1 200 OK\r\n\
    content-type: text/event-stream\r\n\
    cache-control: no-cache\r\n\
    x-accel-buffering: no\r\n\
    transfer-encoding: chunked\r\n";

/// The head of a stream answered with request id `id`, closing the connection
/// after it if the client asked to.
fn stream_head(id: &str, close: bool) -> String {
    let close = if close { "connection: close\r\n" } else { "" };
    format!("{STREAM_HEAD}{close}x-request-id: {id}\r\n\r\n")
}

/// How a connection left the fast path.
#[derive(Debug)]
pub enum Left {
    /// It is closed (by the client, a timeout, or the end of a stream at shutdown).
    Closed,
    /// Hyper serves it from here, starting with the bytes already read.
    HandOff(Prefixed<TcpStream>),
}

/// One of the streams the fast path serves.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Command(uuid::Uuid),
    Group(String),
    Feed(Option<String>),
}

/// Serves the event streams of `tcp` until it closes or a request needs hyper.
pub async fn serve(mut tcp: TcpStream, state: SharedState, header_read_timeout: Duration) -> Left {
    let mut buffer = Vec::new();
    loop {
        let deadline = Instant::now() + header_read_timeout;
        let head = tokio::select! {
            head = read_head(&mut tcp, &mut buffer, deadline) => head,
            // Shutting down: a connection between requests just closes.
            () = state.shutdown.cancelled() => None,
        };
        let Some(head) = head else {
            return Left::Closed;
        };
        let Some((route, close, sent_id)) =
            head.and_then(|len| route(&buffer[..len], buffer.len()))
        else {
            return Left::HandOff(Prefixed::new(buffer, tcp));
        };
        let started = std::time::Instant::now();
        let pattern = match route {
            Route::Command(_) => "/api/commands/{id}/events",
            Route::Group(_) => "/api/commands/events",
            Route::Feed(_) => "/api/notifications",
        };
        // Boxed: opening (reading NATS) takes a large future, which the task
        // should not keep while it holds the stream for minutes.
        let opened = match route {
            Route::Command(id) => Box::pin(streams::command(&state, id)).await,
            Route::Group(ids) => Box::pin(streams::group(&state, &ids)).await,
            Route::Feed(last_event_id) => {
                Box::pin(streams::feed(&state, last_event_id.as_deref())).await
            }
        };
        let Ok(stream) = opened else {
            // axum answers the error, as it would have.
            return Left::HandOff(Prefixed::new(buffer, tcp));
        };
        // Held for as long as the stream is: let the head's buffer go.
        buffer = Vec::new();
        let closing = close || state.shutdown.is_cancelled();
        let id = sent_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let id = id.as_str();
        let head = stream_head(id, closing);
        let ended = write_stream(&mut tcp, stream, head.as_bytes(), &mut buffer).await;
        crate::observe::record("GET", pattern, 200, started, id);
        if !ended || closing || state.shutdown.is_cancelled() {
            return Left::Closed;
        }
    }
}

/// Reads until `buffer` holds a whole request head: `Some(Some(len))` of the
/// head, `Some(None)` for what hyper must see (too long), `None` if the
/// connection closed or `deadline` passed first.
async fn read_head(
    tcp: &mut TcpStream,
    buffer: &mut Vec<u8>,
    deadline: Instant,
) -> Option<Option<usize>> {
    loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            return Some(Some(end + 4));
        }
        if buffer.len() >= MAX_HEAD {
            return Some(None);
        }
        buffer.reserve(512);
        match tokio::time::timeout_at(deadline, tcp.read_buf(buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(_)) => {}
        }
    }
}

/// The stream a request head of `len` bytes (of `buffered` read) asks for, and
/// whether the client wants the connection closed after it; `None` for anything
/// the fast path leaves to hyper.
/// The stream asked for, whether to close after it, and the request's id if it
/// sent a valid one.
fn route(head: &[u8], buffered: usize) -> Option<(Route, bool, Option<String>)> {
    if head.len() != buffered {
        return None; // Something pipelined behind: hyper keeps the order.
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(head), Ok(httparse::Status::Complete(n)) if n == head.len()) {
        return None;
    }
    if request.method != Some("GET") || request.version != Some(1) {
        return None;
    }
    let mut close = false;
    let mut last_event_id = None;
    let mut request_id = None;
    for header in request.headers.iter() {
        let value = std::str::from_utf8(header.value).ok()?.trim();
        match header.name.to_ascii_lowercase().as_str() {
            // From another origin (CORS), with a body, or asking to switch protocols.
            "origin" | "transfer-encoding" | "upgrade" => return None,
            // A proxy's or the client's id is kept, as the middleware keeps it.
            "x-request-id" if crate::observe::is_valid(value.as_bytes()) => {
                request_id = Some(value.to_owned());
            }
            "content-length" if value != "0" => return None,
            "connection" => close = value.eq_ignore_ascii_case("close"),
            "last-event-id" => last_event_id = Some(value.to_owned()),
            _ => {}
        }
    }
    let (path, query) = match request.path?.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (request.path?, None),
    };
    let route = match path {
        "/api/notifications" => Route::Feed(last_event_id),
        "/api/commands/events" => {
            let ids = query?
                .split('&')
                .find_map(|pair| pair.strip_prefix("ids="))?;
            // Escaped ids are for axum's query decoding.
            if ids.contains(['%', '+']) {
                return None;
            }
            Route::Group(ids.to_owned())
        }
        path => {
            let id = path
                .strip_prefix("/api/commands/")?
                .strip_suffix("/events")?;
            Route::Command(herald_contract::parse_id(id)?)
        }
    };
    Some((route, close, request_id))
}

/// Writes `stream` to the client, chunk by chunk, until it ends (`true`) or the
/// client goes away (`false`). Bytes the client sends meanwhile (its next
/// request) are kept in `next`.
async fn write_stream(
    tcp: &mut TcpStream,
    mut stream: Frames,
    head: &[u8],
    next: &mut Vec<u8>,
) -> bool {
    let (mut reader, mut writer) = tcp.split();
    if writer.write_all(head).await.is_err() {
        return false;
    }
    // Small: a client sends nothing while it listens, but for its next request.
    let mut probe = [0_u8; 64];
    loop {
        tokio::select! {
            frame = stream.next() => {
                let written = match frame {
                    Some(Ok(frame)) => write_chunk(&mut writer, &frame).await,
                    Some(Err(never)) => match never {},
                    None => return writer.write_all(b"0\r\n\r\n").await.is_ok(),
                };
                if written.is_err() {
                    return false;
                }
            }
            read = reader.read(&mut probe) => match read {
                Ok(0) | Err(_) => return false,
                Ok(n) => next.extend_from_slice(&probe[..n]),
            },
        }
    }
}

/// Writes `frame` as one chunk of a chunked body (its length in hex, the frame,
/// CRLF) in one system call: the frame's bytes are shared by every stream that
/// sends it, and are not copied.
async fn write_chunk(writer: &mut (impl AsyncWrite + Unpin), frame: &Bytes) -> std::io::Result<()> {
    let size = chunk_size(frame.len());
    let mut slices = [
        IoSlice::new(&size),
        IoSlice::new(frame),
        IoSlice::new(b"\r\n"),
    ];
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        let written = writer.write_vectored(slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, written);
    }
    Ok(())
}

/// A chunk's size line: the length in hex, then CRLF.
fn chunk_size(len: usize) -> Vec<u8> {
    format!("{len:x}\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(head: &str) -> Option<(Route, bool)> {
        route(head.as_bytes(), head.len()).map(|(route, close, _)| (route, close))
    }

    #[test]
    fn a_valid_request_id_is_kept_and_an_invalid_one_replaced() {
        let id = uuid::Uuid::now_v7();
        let head = |request_id: &str| {
            format!(
                "GET /api/commands/{id}/events HTTP/1.1\r\nhost: x\r\nx-request-id: {request_id}\r\n\r\n"
            )
        };
        let kept = head("envoy-7f3a");
        assert_eq!(
            route(kept.as_bytes(), kept.len()).and_then(|(_, _, id)| id),
            Some("envoy-7f3a".to_owned())
        );
        let bad = head("not valid!");
        let routed = route(bad.as_bytes(), bad.len());
        assert!(
            matches!(routed, Some((Route::Command(_), false, None))),
            "{routed:?}"
        );
    }

    #[test]
    fn the_streams_are_taken_and_everything_else_left() {
        let id = uuid::Uuid::now_v7();
        let get =
            |path: &str, extra: &str| format!("GET {path} HTTP/1.1\r\nHost: h\r\n{extra}\r\n");
        assert_eq!(
            routed(&get(&format!("/api/commands/{id}/events"), "")),
            Some((Route::Command(id), false))
        );
        assert_eq!(
            routed(&get(
                "/api/notifications",
                "Last-Event-ID: 42\r\nConnection: close\r\n"
            )),
            Some((Route::Feed(Some("42".into())), true))
        );
        assert_eq!(
            routed(&get(&format!("/api/commands/events?ids={id},{id}"), "")),
            Some((Route::Group(format!("{id},{id}")), false))
        );
        for left in [
            get("/api/locations", ""),
            get("/api/commands/nope/events", ""),
            get(
                &format!("/api/commands/{id}/events"),
                "Origin: https://app.example\r\n",
            ),
            get("/api/commands/events?ids=a%2Cb", ""),
            get("/api/notifications", "Content-Length: 3\r\n"),
            format!("POST /api/commands/{id}/events HTTP/1.1\r\n\r\n"),
            format!("GET /api/commands/{id}/events HTTP/1.0\r\n\r\n"),
            "PRI * HTTP/2.0\r\n\r\n".to_owned(),
        ] {
            assert_eq!(routed(&left), None, "{left:?}");
        }
        // Pipelined: another request already read behind this one.
        let head = get("/api/notifications", "");
        assert_eq!(route(head.as_bytes(), head.len() + 10), None);
    }

    #[tokio::test]
    async fn a_frame_is_one_chunk() {
        let mut written = Vec::new();
        write_chunk(&mut written, &Bytes::from_static(b"data: x\n\n"))
            .await
            .expect("written");
        assert_eq!(written, b"9\r\ndata: x\n\n\r\n");
        assert_eq!(chunk_size(0x1a2), b"1a2\r\n");
    }
}
