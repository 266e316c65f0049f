//! The application layer: turns what a user asks for into core decisions and adapter calls.
//! The CLI and the server open it through `root`, the one composition root: the only module
//! that picks the adapters behind the ports.

pub mod api;
pub mod check;
pub mod clock;
pub mod deploy;
pub mod imagefit;
pub mod project;
pub mod root;
pub mod secrets;
pub mod server;
pub mod state;
