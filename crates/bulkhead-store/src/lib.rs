//! The embedded store: the `Store` port over one redb file, one durable transaction per call:
//! projects and releases (`ops`), who activated each active release (`activations`), accounts, tokens and bindings (`accounts`), sealed secret
//! versions (`secrets`).

mod accounts;
mod activations;
mod open;
mod ops;
mod secrets;
mod store;
mod tables;

pub use open::SCHEMA_VERSION;
pub use store::RedbStore;

/// Implements `From` for each redb error type through `redb::Error`, with one mapping.
macro_rules! from_redb_errors {
    ($target:ty, |$err:ident| $map:expr) => {
        $crate::from_redb_errors!(@each $target, $err, $map, redb::Error, redb::DatabaseError,
            redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);
    };
    (@each $target:ty, $err:ident, $map:expr, $($source:ty),+) => {
        $(
            impl From<$source> for $target {
                fn from(source: $source) -> Self {
                    let $err: redb::Error = source.into();
                    $map
                }
            }
        )+
    };
}
pub(crate) use from_redb_errors;
