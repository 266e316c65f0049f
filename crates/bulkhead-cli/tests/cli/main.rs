//! The `bulkhead` binary as a user meets it: real processes, real files, the real Docker
//! Engine; exit codes, text and JSON output.

mod audit_key;
mod check;
mod closed_pipe;
mod compose_files;
mod deploy;
mod habits;
mod leftovers;
mod network;
mod published;
mod real_images;
mod rollout;
mod secrets;
mod server;
mod server_process;
mod support;
mod uploads;
