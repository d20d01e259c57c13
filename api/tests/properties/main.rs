//! Property-based tests: arbitrary bodies, headers and paths thrown at a real
//! stack (nats-server, reactor and api) never get a 5xx, and every 4xx under
//! `/api` is RFC 9457 problem details.
//!
//! proptest is synchronous, so each test owns a tokio runtime, starts one
//! [`Stack`](herald_testkit::Stack) in it and `block_on`s one HTTP request per
//! case. Failure persistence is off (no regression files); a failure prints the
//! shrunk request and answer. `PROPTEST_CASES=N` overrides the number of cases
//! of every property.
//!
//! - [`harness`]: the stack, the client, sending a request and the checks every
//!   answer must pass;
//! - [`strategies`]: JSON values, edge strings, request bodies and header values;
//! - [`bodies`], [`headers`], [`paths`]: one property each, with the regression
//!   tests for the defects it found.

mod bodies;
mod harness;
mod headers;
mod paths;
mod strategies;
