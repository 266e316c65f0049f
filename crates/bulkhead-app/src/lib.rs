//! The application layer: turns what a user asks for into core decisions and adapter calls.
//! The CLI (and, later, the server) call into it; it talks to the world only through ports.

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
