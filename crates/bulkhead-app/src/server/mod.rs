//! `bulkhead server`, the long-running control plane: its HTTPS plumbing (TLS identity,
//! listener); the API and its dispatcher live beside these modules.

pub mod bodies;
pub mod controller;
pub mod http;
pub mod listen;
pub mod openapi;
pub mod routes;
pub mod run;
pub mod tls;
