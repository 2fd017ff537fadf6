//! The administrator's console: what the chat says to it ([`ConsoleLine`]), what it types
//! ([`Command`]), who carries a command out ([`Dispatcher`]), and how lines are shown on
//! a terminal ([`render`]), and the line editor used when stdin is a terminal ([`editor`]).

pub mod command;
pub mod dispatch;
pub mod editor;
mod keys;
pub mod line;
pub mod qr;
pub mod render;

pub use command::{ChatCommand, KeyExport};
pub use dispatch::{Dispatch, Dispatcher};
pub use line::{ConsoleLine, Style};
