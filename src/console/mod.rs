//! The administrator's console: what the chat says to it ([`ConsoleLine`]), what it types
//! ([`Command`]), and how lines are shown on a terminal ([`render`]).

pub mod command;
pub mod line;
pub mod render;

pub use command::{Command, KeyExport};
pub use line::{ConsoleLine, Style};
