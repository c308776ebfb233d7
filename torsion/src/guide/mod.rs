//! Guides for newcomers. Every code block in them runs as a doc test, so
//! they cannot drift from the API.

#[doc = include_str!("from_twisted.md")]
pub mod from_twisted {}

#[doc = include_str!("from_tokio.md")]
pub mod from_tokio {}
