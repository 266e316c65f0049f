//! OpenAPI schemas the derives cannot say by themselves: each kind of name by its rule in
//! `bulkhead_core::names` (pattern, length, reserved names), RFC 3339 times, core's enums
//! (roles, account kinds) and core's documents that carry no schema of their own (a plan, an
//! audit entry, a binding). Reply and request types name these with `schema_with`.

use bulkhead_core::auth::Role;
use bulkhead_core::names::{self, NameRule};
use serde_json::json;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, Object, ObjectBuilder, OneOfBuilder,
    SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{RefOr, Schema};

/// Extension key of a name schema whose rule reserves some names: the document turns it into
/// `"not": {"enum": [...]}` (the builder has no `not`).
pub const RESERVED_KEY: &str = "x-bulkhead-reserved";

/// A string of one kind of name, as its rule says.
pub fn name(rule: &NameRule) -> Object {
    let mut schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(rule.max_len))
        .pattern(Some(rule.pattern))
        .description(Some(rule.about));
    if !rule.reserved.is_empty() {
        schema = schema.extensions(Some(
            ExtensionsBuilder::new()
                .add(RESERVED_KEY, json!(rule.reserved))
                .build(),
        ));
    }
    schema.build()
}

pub fn project_name() -> Object {
    name(&names::PROJECT)
}

pub fn service_name() -> Object {
    name(&names::SERVICE)
}

pub fn secret_name() -> Object {
    name(&names::SECRET)
}

pub fn user_name() -> Object {
    name(&names::USER)
}

pub fn token_name() -> Object {
    name(&names::TOKEN_NAME)
}

pub fn token_id() -> Object {
    name(&names::TOKEN_ID)
}

/// `null`, or what `schema` allows.
fn nullable(schema: ObjectBuilder, ty: Type) -> Object {
    schema
        .schema_type(SchemaType::from_iter([ty, Type::Null]))
        .build()
}

/// An RFC 3339 UTC time.
pub fn date_time() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .build()
}

/// An RFC 3339 UTC time, or `null`.
pub fn date_time_or_null() -> Object {
    nullable(
        ObjectBuilder::new().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        Type::String,
    )
}

/// A project name, or `null`.
pub fn project_name_or_null() -> Object {
    let rule = &names::PROJECT;
    nullable(
        ObjectBuilder::new()
            .min_length(Some(1))
            .max_length(Some(rule.max_len))
            .pattern(Some(rule.pattern))
            .description(Some(rule.about)),
        Type::String,
    )
}

/// A string, or `null`.
pub fn text_or_null() -> Object {
    nullable(ObjectBuilder::new(), Type::String)
}

/// One of the roles (docs/rbac.md).
pub fn role() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(Role::ALL.iter().map(|r| r.name())))
        .build()
}

/// `user` or `service-account`.
pub fn subject_kind() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["user", "service-account"]))
        .build()
}

/// A key-encryption key's id: 16 lowercase hex characters.
pub fn kek_id() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[0-9a-f]{16}$"))
        .build()
}

fn array(items: impl Into<RefOr<Schema>>) -> ArrayBuilder {
    ArrayBuilder::new().items(items.into())
}

/// An object with these required properties, and any other.
fn object(properties: Vec<(&str, RefOr<Schema>)>) -> Object {
    let mut o = ObjectBuilder::new().schema_type(Type::Object);
    for (name, schema) in properties {
        o = o.property(name, schema).required(name);
    }
    o.additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .build()
}

fn of(t: Type) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(t).into()
}

/// Where a binding applies: `"all"` or `{"project": NAME}`.
pub fn scope() -> Schema {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["all"])),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("project", project_name())
                .required("project")
                .additional_properties(Some(AdditionalProperties::FreeForm(false))),
        )
        .build()
        .into()
}

/// A role granted to a user within a scope.
pub fn binding() -> Object {
    object(vec![
        ("user", user_name().into()),
        ("role", role().into()),
        ("scope", scope().into()),
    ])
}

/// A list of bindings.
pub fn bindings() -> Schema {
    array(binding()).build().into()
}

/// The ops of a plan (`core::deploy::Op`), by their `op`.
const OPS: &[&str] = &[
    "create_network",
    "block_egress",
    "restrict_ingress",
    "create_volume",
    "deploy",
    "remove",
    "remove_network",
    "remove_rules",
];

fn op() -> Object {
    object(vec![(
        "op",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(OPS.iter().copied()))
            .into(),
    )])
}

/// A plan (`core::deploy::Plan`): `prepare`, then each wave's rollouts, then `cleanup`.
pub fn plan() -> Object {
    let rollout = object(vec![
        ("service", of(Type::String)),
        ("ops", array(op()).build().into()),
    ]);
    object(vec![
        ("prepare", array(op()).build().into()),
        ("waves", array(array(rollout)).build().into()),
        ("cleanup", array(op()).build().into()),
    ])
}

/// One audit log entry (`core::audit::Entry`, docs/audit.md).
pub fn audit_entry() -> Object {
    let actor = object(vec![
        ("user", text_or_null().into()),
        ("token_id", text_or_null().into()),
    ]);
    let outcome = object(vec![
        (
            "kind",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["ok", "denied", "unauthenticated", "failed"]))
                .into(),
        ),
        ("code", text_or_null().into()),
        ("reason", text_or_null().into()),
    ]);
    object(vec![
        ("seq", of(Type::Integer)),
        ("time", date_time().into()),
        ("actor", actor.into()),
        ("source", of(Type::String)),
        ("action", of(Type::String)),
        ("resource", of(Type::String)),
        ("outcome", outcome.into()),
        ("body_sha256", text_or_null().into()),
        ("prev", of(Type::String)),
        ("hash", of(Type::String)),
    ])
}

/// Audit entries.
pub fn audit_entries() -> Schema {
    array(audit_entry()).build().into()
}

/// `(container port/protocol, host address, host port)`.
pub fn published() -> Schema {
    let tuple = ArrayBuilder::new()
        .prefix_items([of(Type::String), of(Type::String), of(Type::Integer)])
        .min_items(Some(3))
        .max_items(Some(3));
    array(tuple).build().into()
}

/// `[rule, reason]` pairs.
pub fn waivers() -> Schema {
    let pair = ArrayBuilder::new()
        .prefix_items([of(Type::String), of(Type::String)])
        .min_items(Some(2))
        .max_items(Some(2));
    array(pair).build().into()
}
