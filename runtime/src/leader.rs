//! Reads that must see the writes before them: from the stream's leader.
//!
//! On a replicated bucket, async-nats answers `kv::Store::get` with a direct get,
//! which any replica may serve, even one that lags behind the leader (nats-server
//! issue 6557). A read that decides something (has this command an outcome? who
//! holds this name? is the location there for a client that was just told it
//! is?) must see every write acknowledged before it. The leader has all of them:
//! [`entry`] asks it (`$JS.API.STREAM.MSG.GET`), as async-nats itself does for a
//! stream without direct gets. A leader in election answers nothing; that is a
//! transient error, tried again by the caller.
//!
//! Reads that may be stale, and why that is harmless, are listed in the README
//! ("Running on a cluster").

use async_nats::jetstream::kv;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use bytes::Bytes;

/// A key's latest value as the leader has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderEntry {
    pub value: Bytes,
    /// The entry's revision: its sequence in the bucket's stream.
    pub revision: u64,
}

/// The leader could not be asked, or did not answer.
#[derive(Debug, thiserror::Error)]
#[error("could not read {key} from the leader of {stream}")]
pub struct LeaderReadError {
    key: String,
    stream: String,
    #[source]
    source: async_nats::jetstream::stream::LastRawMessageError,
}

/// The latest value of `key` in `bucket`, read from the leader; `None` if the key
/// has none (never written, deleted or purged).
pub async fn entry(bucket: &kv::Store, key: &str) -> Result<Option<LeaderEntry>, LeaderReadError> {
    let subject = format!("{}{key}", bucket.prefix);
    match bucket
        .stream
        .get_last_raw_message_by_subject(&subject)
        .await
    {
        Ok(message) => {
            let removed = message
                .headers
                .get("KV-Operation")
                .is_some_and(|operation| matches!(operation.as_str(), "DEL" | "PURGE"));
            Ok((!removed).then_some(LeaderEntry {
                value: message.payload,
                revision: message.sequence,
            }))
        }
        Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(source) => Err(LeaderReadError {
            key: key.to_owned(),
            stream: bucket.stream_name.clone(),
            source,
        }),
    }
}
