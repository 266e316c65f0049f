//! The application layer: turns what a user asks for into core decisions and (from F2 on)
//! adapter calls. The CLI and the server both call into it.

pub mod check;
pub mod project;
