//! Accounts as redb transactions, one per operation: users and service accounts, their tokens
//! (by id, plus an owner index) and their role bindings. Removing an account removes its tokens
//! and bindings in the same transaction. Errors are `ops::OpError`.

use bulkhead_core::auth::{Binding, TokenId, TokenRecord, UserName, UserRecord};
use bulkhead_ports::TokenLookup;
use redb::{Database, ReadableDatabase, ReadableTable};

use crate::ops::OpError;
use crate::tables::{
    BINDINGS, CodecError, TOKENS, USER_TOKENS, USERS, binding_key, decode, encode, show_key,
};

type PairKey = (&'static [u8], &'static [u8]);

fn not_found(what: &'static str, name: &str) -> OpError {
    OpError::NotFound {
        what,
        name: name.to_owned(),
    }
}

fn bad_value(table: &'static str, key: &[u8], reason: String) -> OpError {
    OpError::Codec(CodecError::BadValue {
        table,
        key: show_key(key),
        reason,
    })
}

/// Decodes a user and checks that it is the one its key names.
fn decode_user(key: &[u8], bytes: &[u8]) -> Result<UserRecord, OpError> {
    let user: UserRecord = decode("users", key, bytes)?;
    if user.name.as_str().as_bytes() != key {
        return Err(bad_value(
            "users",
            key,
            format!("the value is user {}", user.name),
        ));
    }
    Ok(user)
}

fn decode_token(key: &[u8], bytes: &[u8]) -> Result<TokenRecord, OpError> {
    let token: TokenRecord = decode("tokens", key, bytes)?;
    if token.id.as_str().as_bytes() != key {
        return Err(bad_value(
            "tokens",
            key,
            format!("the value is token {}", token.id),
        ));
    }
    Ok(token)
}

fn decode_binding(user: &[u8], key: &[u8], bytes: &[u8]) -> Result<Binding, OpError> {
    let shown = [user, b"\0", key].concat();
    let binding: Binding = decode("bindings", &shown, bytes)?;
    if binding.user.as_str().as_bytes() != user || binding_key(&binding) != key {
        return Err(bad_value(
            "bindings",
            &shown,
            format!("the value is the binding {} of {}", binding, binding.user),
        ));
    }
    Ok(binding)
}

fn read_user(
    users: &impl ReadableTable<&'static [u8], &'static [u8]>,
    name: &str,
) -> Result<Option<UserRecord>, OpError> {
    match users.get(name.as_bytes())? {
        Some(value) => Ok(Some(decode_user(name.as_bytes(), value.value())?)),
        None => Ok(None),
    }
}

fn read_token(
    tokens: &impl ReadableTable<&'static [u8], &'static [u8]>,
    id: &str,
) -> Result<Option<TokenRecord>, OpError> {
    match tokens.get(id.as_bytes())? {
        Some(value) => Ok(Some(decode_token(id.as_bytes(), value.value())?)),
        None => Ok(None),
    }
}

/// The second halves of the keys of `table` whose first half is `first`, in key order.
fn keys_under<V: redb::Value + 'static>(
    table: &impl ReadableTable<PairKey, V>,
    first: &str,
) -> Result<Vec<Vec<u8>>, OpError> {
    let mut out = Vec::new();
    for entry in table.range((first.as_bytes(), &[][..])..)? {
        let (key, _) = entry?;
        let (key_first, key_second) = key.value();
        if key_first != first.as_bytes() {
            break;
        }
        out.push(key_second.to_vec());
    }
    Ok(out)
}

pub(crate) fn add_user(db: &Database, user: &UserRecord) -> Result<(), OpError> {
    let value = encode("users", user)?;
    let key = user.name.as_str().as_bytes();
    let txn = db.begin_write()?;
    let added = {
        let mut users = txn.open_table(USERS)?;
        let taken = users.get(key)?.is_some();
        if !taken {
            users.insert(key, value.as_slice())?;
        }
        !taken
    };
    if !added {
        txn.abort()?;
        return Err(OpError::Exists {
            what: "user",
            name: user.name.to_string(),
        });
    }
    txn.commit()?;
    Ok(())
}

pub(crate) fn get_user(db: &Database, name: &UserName) -> Result<Option<UserRecord>, OpError> {
    let txn = db.begin_read()?;
    read_user(&txn.open_table(USERS)?, name.as_str())
}

pub(crate) fn list_users(db: &Database) -> Result<Vec<UserRecord>, OpError> {
    let txn = db.begin_read()?;
    let users = txn.open_table(USERS)?;
    let mut out = Vec::new();
    for entry in users.iter()? {
        let (key, value) = entry?;
        out.push(decode_user(key.value(), value.value())?);
    }
    Ok(out)
}

pub(crate) fn set_user_disabled(
    db: &Database,
    name: &UserName,
    disabled: bool,
) -> Result<UserRecord, OpError> {
    let txn = db.begin_write()?;
    let updated = {
        let mut users = txn.open_table(USERS)?;
        match read_user(&users, name.as_str())? {
            Some(user) => {
                let user = UserRecord { disabled, ..user };
                users.insert(name.as_str().as_bytes(), encode("users", &user)?.as_slice())?;
                Some(user)
            }
            None => None,
        }
    };
    let Some(user) = updated else {
        txn.abort()?;
        return Err(not_found("user", name.as_str()));
    };
    txn.commit()?;
    Ok(user)
}

/// Removes the account, its tokens (records and index) and its bindings.
pub(crate) fn delete_user(db: &Database, name: &UserName) -> Result<(), OpError> {
    let user = name.as_str().as_bytes();
    let txn = db.begin_write()?;
    let existed = txn.open_table(USERS)?.remove(user)?.is_some();
    if !existed {
        txn.abort()?;
        return Err(not_found("user", name.as_str()));
    }
    {
        let mut index = txn.open_table(USER_TOKENS)?;
        let mut tokens = txn.open_table(TOKENS)?;
        for id in keys_under(&index, name.as_str())? {
            index.remove((user, id.as_slice()))?;
            tokens.remove(id.as_slice())?;
        }
        let mut bindings = txn.open_table(BINDINGS)?;
        for key in keys_under(&bindings, name.as_str())? {
            bindings.remove((user, key.as_slice()))?;
        }
    }
    txn.commit()?;
    Ok(())
}

pub(crate) fn add_token(db: &Database, token: &TokenRecord) -> Result<(), OpError> {
    let value = encode("tokens", token)?;
    let (owner, id) = (token.owner.as_str(), token.id.as_str());
    let txn = db.begin_write()?;
    let refusal = {
        let mut tokens = txn.open_table(TOKENS)?;
        if txn.open_table(USERS)?.get(owner.as_bytes())?.is_none() {
            Some(not_found("user", owner))
        } else if tokens.get(id.as_bytes())?.is_some() {
            Some(OpError::Exists {
                what: "token",
                name: id.to_owned(),
            })
        } else {
            tokens.insert(id.as_bytes(), value.as_slice())?;
            txn.open_table(USER_TOKENS)?
                .insert((owner.as_bytes(), id.as_bytes()), ())?;
            None
        }
    };
    if let Some(err) = refusal {
        txn.abort()?;
        return Err(err);
    }
    txn.commit()?;
    Ok(())
}

pub(crate) fn get_token(db: &Database, id: &TokenId) -> Result<Option<TokenRecord>, OpError> {
    let txn = db.begin_read()?;
    read_token(&txn.open_table(TOKENS)?, id.as_str())
}

/// The token, its owner and the owner's bindings, from one read transaction.
pub(crate) fn lookup_token(db: &Database, id: &TokenId) -> Result<Option<TokenLookup>, OpError> {
    let txn = db.begin_read()?;
    let Some(token) = read_token(&txn.open_table(TOKENS)?, id.as_str())? else {
        return Ok(None);
    };
    let user = read_user(&txn.open_table(USERS)?, token.owner.as_str())?.ok_or_else(|| {
        OpError::Inconsistent {
            reason: format!(
                "token {} belongs to {}, who does not exist",
                token.id, token.owner
            ),
        }
    })?;
    let bindings = read_bindings(&txn.open_table(BINDINGS)?, Some(&token.owner))?;
    Ok(Some(TokenLookup {
        token,
        user,
        bindings,
    }))
}

pub(crate) fn list_tokens(
    db: &Database,
    owner: Option<&UserName>,
) -> Result<Vec<TokenRecord>, OpError> {
    let txn = db.begin_read()?;
    let index = txn.open_table(USER_TOKENS)?;
    let tokens = txn.open_table(TOKENS)?;
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    match owner {
        Some(owner) => {
            for id in keys_under(&index, owner.as_str())? {
                pairs.push((owner.as_str().as_bytes().to_vec(), id));
            }
        }
        None => {
            for entry in index.iter()? {
                let (key, _) = entry?;
                let (owner, id) = key.value();
                pairs.push((owner.to_vec(), id.to_vec()));
            }
        }
    }
    let mut out = Vec::new();
    for (owner, id) in pairs {
        let dangling = || OpError::Inconsistent {
            reason: format!(
                "the token index names token {}, which is missing",
                show_key(&id)
            ),
        };
        let value = tokens.get(id.as_slice())?.ok_or_else(dangling)?;
        let token = decode_token(&id, value.value())?;
        if token.owner.as_str().as_bytes() != owner {
            return Err(OpError::Inconsistent {
                reason: format!(
                    "token {} is indexed under {}, but belongs to {}",
                    token.id,
                    show_key(&owner),
                    token.owner
                ),
            });
        }
        out.push(token);
    }
    Ok(out)
}

pub(crate) fn revoke_token(db: &Database, id: &TokenId, at: u64) -> Result<TokenRecord, OpError> {
    let txn = db.begin_write()?;
    let (token, changed) = {
        let mut tokens = txn.open_table(TOKENS)?;
        match read_token(&tokens, id.as_str())? {
            Some(token) if token.revoked_at.is_some() => (Some(token), false),
            Some(token) => {
                let token = TokenRecord {
                    revoked_at: Some(at),
                    ..token
                };
                tokens.insert(id.as_str().as_bytes(), encode("tokens", &token)?.as_slice())?;
                (Some(token), true)
            }
            None => (None, false),
        }
    };
    if !changed {
        txn.abort()?;
    } else {
        txn.commit()?;
    }
    token.ok_or_else(|| not_found("token", id.as_str()))
}

pub(crate) fn add_binding(db: &Database, binding: &Binding) -> Result<bool, OpError> {
    let value = encode("bindings", binding)?;
    let user = binding.user.as_str();
    let key = binding_key(binding);
    let txn = db.begin_write()?;
    let outcome = {
        let mut bindings = txn.open_table(BINDINGS)?;
        if txn.open_table(USERS)?.get(user.as_bytes())?.is_none() {
            Err(not_found("user", user))
        } else if bindings.get((user.as_bytes(), key.as_slice()))?.is_some() {
            Ok(false)
        } else {
            bindings.insert((user.as_bytes(), key.as_slice()), value.as_slice())?;
            Ok(true)
        }
    };
    if matches!(outcome, Ok(true)) {
        txn.commit()?;
    } else {
        txn.abort()?;
    }
    outcome
}

pub(crate) fn remove_binding(db: &Database, binding: &Binding) -> Result<bool, OpError> {
    let key = binding_key(binding);
    let txn = db.begin_write()?;
    let removed = txn
        .open_table(BINDINGS)?
        .remove((binding.user.as_str().as_bytes(), key.as_slice()))?
        .is_some();
    if removed {
        txn.commit()?;
    } else {
        txn.abort()?;
    }
    Ok(removed)
}

pub(crate) fn list_bindings(
    db: &Database,
    user: Option<&UserName>,
) -> Result<Vec<Binding>, OpError> {
    let txn = db.begin_read()?;
    read_bindings(&txn.open_table(BINDINGS)?, user)
}

/// One account's bindings, or everyone's, in key order.
fn read_bindings(
    table: &impl ReadableTable<PairKey, &'static [u8]>,
    user: Option<&UserName>,
) -> Result<Vec<Binding>, OpError> {
    let mut out = Vec::new();
    let entries = match user {
        Some(user) => table.range((user.as_str().as_bytes(), &[][..])..)?,
        None => table.iter()?,
    };
    for entry in entries {
        let (key, value) = entry?;
        let (key_user, key_rest) = key.value();
        if user.is_some_and(|u| u.as_str().as_bytes() != key_user) {
            break;
        }
        out.push(decode_binding(key_user, key_rest, value.value())?);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;
