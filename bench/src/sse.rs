//! A client for many event streams at once, as light as can be: one TCP
//! connection and one small buffer per stream, HTTP/1.1 written by hand. The
//! bench measures the server's cost per stream, so the client must not be the
//! heavier of the two.

use std::time::Instant;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One open event stream.
#[derive(Debug)]
pub struct Stream {
    tcp: TcpStream,
    buffer: Vec<u8>,
}

/// One event: its name and its data line (comments and `retry:` are skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: String,
    /// When its last byte was read.
    pub at: Instant,
}

impl Stream {
    /// Opens `GET path` on `address` and reads the answer's head; fails unless
    /// it is a `200` event stream.
    pub async fn open(address: &str, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut tcp = TcpStream::connect(address)
            .await
            .with_context(|| format!("connecting to {address}"))?;
        tcp.set_nodelay(true)?;
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        tcp.write_all(request.as_bytes()).await?;
        let mut stream = Self {
            tcp,
            buffer: Vec::with_capacity(512),
        };
        let head = stream.read_until(b"\r\n\r\n").await?;
        let head = String::from_utf8_lossy(&head);
        if !head.starts_with("HTTP/1.1 200") {
            bail!(
                "{path} answered {}",
                head.lines().next().unwrap_or_default()
            );
        }
        Ok(stream)
    }

    /// The next event, skipping comments; `None` when the server ends the stream.
    pub async fn next_event(&mut self) -> anyhow::Result<Option<Event>> {
        loop {
            let frame = match self.read_until(b"\n\n").await {
                Ok(frame) => frame,
                Err(error) if self.buffer.is_empty() && is_eof(&error) => return Ok(None),
                Err(error) => return Err(error),
            };
            let frame = String::from_utf8_lossy(&frame);
            let mut name = None;
            let mut data = None;
            // Chunked transfer: the chunk sizes are lines of their own; skip them.
            for line in frame.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data = Some(value.to_owned());
                }
            }
            if let (Some(name), Some(data)) = (name, data) {
                return Ok(Some(Event {
                    name,
                    data,
                    at: Instant::now(),
                }));
            }
        }
    }

    /// Reads until `end` and answers everything before it (and `end`).
    async fn read_until(&mut self, end: &[u8]) -> anyhow::Result<Vec<u8>> {
        loop {
            if let Some(at) = self
                .buffer
                .windows(end.len())
                .position(|window| window == end)
            {
                let rest = self.buffer.split_off(at + end.len());
                return Ok(std::mem::replace(&mut self.buffer, rest));
            }
            let mut chunk = [0_u8; 2048];
            let read = self.tcp.read(&mut chunk).await?;
            if read == 0 {
                bail!(Eof);
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the server closed the connection")]
struct Eof;

fn is_eof(error: &anyhow::Error) -> bool {
    error.downcast_ref::<Eof>().is_some()
}
