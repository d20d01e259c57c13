//! The read side: what the reactor wrote, as the api's JSON routes and the web
//! pages read it, so the two can never disagree about a location or a status.
//!
//! - [`read_model`]: [`ReadModel`], reads of the buckets and the command stream;
//! - [`locations_view`]: [`LocationsView`], the `locations` bucket in memory, for
//!   listing;
//! - [`command_log`]: the command stream and the status history, for idempotent
//!   retries and the global feed.
//!
//! Nothing here writes: the reactor owns the buckets.

pub mod command_log;
pub mod locations_view;
pub mod read_model;

pub use locations_view::{LocationPage, LocationsView};
pub use read_model::{Accepted, ReadError, ReadModel, StatusAt};
