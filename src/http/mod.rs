//! HTTP/1.1, by hand on top of httparse, as the design asks: just what serving a page
//! and upgrading to WebSocket needs, with every size and time bounded.
//!
//! - `request.rs`: parsing a request head.
//! - `route.rs`: what a request is answered with (a pure function, unit-tested).
//! - `response.rs`: the responses we send, with their security headers.
//! - `origin.rs`: which pages may open a WebSocket here (`Origin`).
//! - `assets.rs`: the web client, embedded by build.rs.
//! - `qr_image.rs`: `/qr.svg`, a QR code of a text.

pub mod assets;
mod origin;
mod qr_image;
pub mod request;
pub mod response;
pub mod route;

pub use request::{Parsed, parse_head};
pub use route::{PortKind, Reply, Site, route};
