//! The OpenAPI 3 description of the API, generated from the route table (paths, methods,
//! parameters, bodies), the body types' derived schemas and the reply types of
//! `bulkhead-api-types`: what is served at `/v1/openapi.json` can only describe what the
//! router really does. Names carry their rule's pattern and length (`core::names`), times are
//! `date-time`, roles an enum, replicas bounded.

use bulkhead_api_types as replies;
use bulkhead_api_types::schema::{self as s, RESERVED_KEY};
use bulkhead_core::auth::Action;
use serde_json::{Value, json};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApiBuilder, PathsBuilder, Ref, RefOr,
    Required, ResponseBuilder, Schema,
};
use utoipa::{PartialSchema, ToSchema};

use super::bodies::{
    BindingBody, DeployBody, RollbackBody, ScaleBody, SecretBody, TokenBody, UserBody,
};
use super::routes::{MAX_AUDIT_PAGE, Method, Param, ROUTES};

/// A path parameter's schema, by its name in the route table.
fn path_schema(name: &str) -> Object {
    match name {
        "project" => s::project_name(),
        "service" => s::service_name(),
        "name" => s::secret_name(),
        "user" => s::user_name(),
        "id" => s::token_id(),
        _ => ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .build(),
    }
}

fn query_schema(kind: Param) -> Object {
    match kind {
        Param::Boolean => ObjectBuilder::new().schema_type(Type::Boolean).build(),
        Param::Count => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(u64::MAX))
            .build(),
        Param::Limit => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_AUDIT_PAGE))
            .build(),
        Param::Time => s::date_time(),
        Param::Text => ObjectBuilder::new().schema_type(Type::String).build(),
        Param::Role => s::role(),
        Param::Project => s::project_name(),
    }
}

fn error_schema() -> RefOr<Schema> {
    let detail = ObjectBuilder::new()
        .property("code", ObjectBuilder::new().schema_type(Type::String))
        .required("code")
        .property("message", ObjectBuilder::new().schema_type(Type::String))
        .required("message");
    ObjectBuilder::new()
        .property("error", detail)
        .required("error")
        .into()
}

/// The reply type of each action (its schema is a component of that name).
fn reply_of(action: Action) -> Option<&'static str> {
    Some(match action {
        Action::ProjectList => "ProjectList",
        Action::ProjectGet => "ProjectGet",
        Action::ProjectUp => "UpReply",
        Action::ProjectPlan => "PlanReply",
        Action::ProjectDown => "DownReply",
        Action::ServiceList => "ServicesReply",
        Action::ServiceScale => "ScaleReply",
        Action::ServiceRollback => "RollbackReply",
        Action::ServiceLogs => "LogsReply",
        Action::ReleaseList => "ReleasesReply",
        Action::AuditRead => "AuditPage",
        Action::AuditExport => return None,
        Action::UserList => "UserList",
        Action::UserAdd => "UserAdded",
        Action::UserRemove => "UserRemoved",
        Action::TokenCreate => "TokenCreated",
        Action::TokenList => "TokenList",
        Action::TokenRevoke => "TokenRevoked",
        Action::BindingList => "BindingList",
        Action::BindingBind => "BindingAdded",
        Action::BindingUnbind => "BindingRemoved",
        Action::SecretSet => "SecretSetReply",
        Action::SecretList => "SecretList",
        Action::SecretVersions => "SecretVersions",
        Action::SecretRemove => "SecretRemoved",
        Action::KeyRotate => "RotationReport",
        Action::ServerStatus => "StatusReply",
        _ => return None,
    })
}

/// Every named schema: bodies, replies and the types replies name.
fn components() -> ComponentsBuilder {
    let mut c = ComponentsBuilder::new().schema("Error", error_schema());
    let named: Vec<(&str, RefOr<Schema>)> = vec![
        ("DeployBody", DeployBody::schema()),
        ("ScaleBody", ScaleBody::schema()),
        ("RollbackBody", RollbackBody::schema()),
        ("UserBody", UserBody::schema()),
        ("TokenBody", TokenBody::schema()),
        ("BindingBody", BindingBody::schema()),
        ("SecretBody", SecretBody::schema()),
    ];
    for (name, schema) in named {
        c = c.schema(name, schema);
    }
    let mut replies = Vec::new();
    replies::ProjectList::schemas(&mut replies);
    replies::ProjectGet::schemas(&mut replies);
    replies::UpReply::schemas(&mut replies);
    replies::PlanReply::schemas(&mut replies);
    replies::DownReply::schemas(&mut replies);
    replies::ServicesReply::schemas(&mut replies);
    replies::ScaleReply::schemas(&mut replies);
    replies::RollbackReply::schemas(&mut replies);
    replies::LogsReply::schemas(&mut replies);
    replies::ReleasesReply::schemas(&mut replies);
    replies::AuditPage::schemas(&mut replies);
    replies::UserList::schemas(&mut replies);
    replies::UserAdded::schemas(&mut replies);
    replies::UserRemoved::schemas(&mut replies);
    replies::TokenCreated::schemas(&mut replies);
    replies::TokenList::schemas(&mut replies);
    replies::TokenRevoked::schemas(&mut replies);
    replies::BindingList::schemas(&mut replies);
    replies::BindingAdded::schemas(&mut replies);
    replies::BindingRemoved::schemas(&mut replies);
    replies::SecretSetReply::schemas(&mut replies);
    replies::SecretList::schemas(&mut replies);
    replies::SecretVersions::schemas(&mut replies);
    replies::SecretRemoved::schemas(&mut replies);
    replies::RotationReport::schemas(&mut replies);
    replies::StatusReply::schemas(&mut replies);
    let top: Vec<(String, RefOr<Schema>)> = vec![
        (
            replies::ProjectList::name().into(),
            replies::ProjectList::schema(),
        ),
        (
            replies::ProjectGet::name().into(),
            replies::ProjectGet::schema(),
        ),
        (replies::UpReply::name().into(), replies::UpReply::schema()),
        (
            replies::PlanReply::name().into(),
            replies::PlanReply::schema(),
        ),
        (
            replies::DownReply::name().into(),
            replies::DownReply::schema(),
        ),
        (
            replies::ServicesReply::name().into(),
            replies::ServicesReply::schema(),
        ),
        (
            replies::ScaleReply::name().into(),
            replies::ScaleReply::schema(),
        ),
        (
            replies::RollbackReply::name().into(),
            replies::RollbackReply::schema(),
        ),
        (
            replies::LogsReply::name().into(),
            replies::LogsReply::schema(),
        ),
        (
            replies::ReleasesReply::name().into(),
            replies::ReleasesReply::schema(),
        ),
        (
            replies::AuditPage::name().into(),
            replies::AuditPage::schema(),
        ),
        (
            replies::UserList::name().into(),
            replies::UserList::schema(),
        ),
        (
            replies::UserAdded::name().into(),
            replies::UserAdded::schema(),
        ),
        (
            replies::UserRemoved::name().into(),
            replies::UserRemoved::schema(),
        ),
        (
            replies::TokenCreated::name().into(),
            replies::TokenCreated::schema(),
        ),
        (
            replies::TokenList::name().into(),
            replies::TokenList::schema(),
        ),
        (
            replies::TokenRevoked::name().into(),
            replies::TokenRevoked::schema(),
        ),
        (
            replies::BindingList::name().into(),
            replies::BindingList::schema(),
        ),
        (
            replies::BindingAdded::name().into(),
            replies::BindingAdded::schema(),
        ),
        (
            replies::BindingRemoved::name().into(),
            replies::BindingRemoved::schema(),
        ),
        (
            replies::SecretSetReply::name().into(),
            replies::SecretSetReply::schema(),
        ),
        (
            replies::SecretList::name().into(),
            replies::SecretList::schema(),
        ),
        (
            replies::SecretVersions::name().into(),
            replies::SecretVersions::schema(),
        ),
        (
            replies::SecretRemoved::name().into(),
            replies::SecretRemoved::schema(),
        ),
        (
            replies::RotationReport::name().into(),
            replies::RotationReport::schema(),
        ),
        (
            replies::StatusReply::name().into(),
            replies::StatusReply::schema(),
        ),
    ];
    for (name, schema) in replies.into_iter().chain(top) {
        c = c.schema(name, schema);
    }
    c
}

/// The document, as JSON.
pub fn document() -> Value {
    let mut paths = PathsBuilder::new();
    let mut items: Vec<(&str, Vec<(HttpMethod, utoipa::openapi::path::Operation)>)> = Vec::new();
    for r in ROUTES {
        let mut op = OperationBuilder::new()
            .operation_id(Some(r.action.name().replace('.', "_")))
            .summary(Some(r.action.summary()))
            .description(Some(format!(
                "RBAC action `{}`. Every call is written to the audit log before it is answered.",
                r.action.name()
            )))
            .tag(r.action.name().split('.').next().unwrap_or("api"))
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        for segment in r.path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(|c| c == '{' || c == '}');
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(path_schema(name))),
            );
        }
        for q in r.query {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(q.name)
                    .parameter_in(ParameterIn::Query)
                    .required(if q.required {
                        Required::True
                    } else {
                        Required::False
                    })
                    .description(Some(q.about))
                    .schema(Some(query_schema(q.kind))),
            );
        }
        if let Some(body) = r.body {
            let required = if r.action == Action::ServiceRollback {
                Required::False
            } else {
                Required::True
            };
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(required))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(body)))
                            .build(),
                    )
                    .build(),
            ));
        }
        let json_content =
            |schema: RefOr<Schema>| ContentBuilder::new().schema(Some(schema)).build();
        let (ok_type, ok_schema): (&str, RefOr<Schema>) = match reply_of(r.action) {
            Some(name) => ("application/json", Ref::from_schema_name(name).into()),
            None => (
                "application/x-ndjson",
                ObjectBuilder::new().schema_type(Type::String).into(),
            ),
        };
        op = op.response(
            "200",
            ResponseBuilder::new()
                .description("done")
                .content(ok_type, json_content(ok_schema)),
        );
        for (code, about) in [
            ("400", "the request is not valid"),
            ("401", "no valid bearer token"),
            ("403", "the token's roles do not allow it"),
            ("404", "no such object"),
            ("409", "conflicts with the current state"),
            ("413", "the body is too large"),
            ("422", "refused by policy"),
            ("429", "too many failed authentications from this address"),
            ("500", "the operation failed"),
            ("503", "the audit log cannot be written: nothing was done"),
        ] {
            op = op.response(
                code,
                ResponseBuilder::new().description(about).content(
                    "application/json",
                    json_content(Ref::from_schema_name("Error").into()),
                ),
            );
        }
        let method = match r.method {
            Method::Get => HttpMethod::Get,
            Method::Post => HttpMethod::Post,
            Method::Put => HttpMethod::Put,
            Method::Delete => HttpMethod::Delete,
        };
        match items.iter_mut().find(|(p, _)| *p == r.path) {
            Some((_, ops)) => ops.push((method, op.build())),
            None => items.push((r.path, vec![(method, op.build())])),
        }
    }
    for (path, ops) in items {
        let mut item: Option<PathItem> = None;
        for (method, op) in ops {
            item = Some(match item {
                None => PathItem::new(method, op),
                Some(mut i) => {
                    let added = PathItem::new(method, op);
                    i.merge_operations(added);
                    i
                }
            });
        }
        if let Some(item) = item {
            paths = paths.path(path, item);
        }
    }
    let components = components()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        )
        .build();
    let doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Bulkhead API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Resource-oriented JSON under /v1. Errors: {\"error\": {\"code\", \"message\"}}. Times are RFC 3339 UTC.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build();
    let mut doc = serde_json::to_value(doc).unwrap_or(Value::Null);
    reserved_names(&mut doc);
    user_body_rule(&mut doc);
    doc
}

/// A name schema marked with [`RESERVED_KEY`] gets `"not": {"enum": [...]}` (the builder has
/// no `not`).
fn reserved_names(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(reserved) = map.remove(RESERVED_KEY) {
                map.insert("not".into(), json!({ "enum": reserved }));
            }
            map.values_mut().for_each(reserved_names);
        }
        Value::Array(items) => items.iter_mut().for_each(reserved_names),
        _ => {}
    }
}

/// `POST /v1/users`: a `project` (not null) needs a `role` (not null) — what the parser
/// checks, said as JSON Schema.
fn user_body_rule(doc: &mut Value) {
    if let Some(body) = doc.pointer_mut("/components/schemas/UserBody")
        && let Some(map) = body.as_object_mut()
    {
        map.insert(
            "anyOf".into(),
            json!([
                { "not": { "required": ["project"] } },
                { "properties": { "project": { "type": "null" } } },
                { "required": ["role"], "properties": { "role": { "type": "string" } } }
            ]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        document()
    }

    #[test]
    fn every_route_has_its_reply_schema() {
        let d = doc();
        for r in ROUTES {
            let op = r.method.name().to_ascii_lowercase();
            let ok = &d["paths"][r.path][&op]["responses"]["200"]["content"];
            match reply_of(r.action) {
                Some(name) => {
                    let reference = &ok["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        reference,
                        &json!(format!("#/components/schemas/{name}")),
                        "{} {}",
                        r.method.name(),
                        r.path
                    );
                    assert!(
                        d["components"]["schemas"][name].is_object(),
                        "{name} is not a component"
                    );
                }
                None => assert!(ok["application/x-ndjson"].is_object(), "{}", r.path),
            }
        }
    }

    #[test]
    fn names_times_roles_and_replicas_state_their_constraints() {
        let d = doc();
        let get = |path: &str| d.pointer(path).cloned().unwrap_or(Value::Null);
        let params =
            get("/paths/~1v1~1projects~1{project}~1services~1{service}~1logs/get/parameters");
        let service = params
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "service"))
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(
            service["schema"]["pattern"],
            json!(bulkhead_core::names::SERVICE.pattern)
        );
        assert_eq!(service["schema"]["maxLength"], json!(63));
        let user = get("/components/schemas/UserBody/properties/name");
        assert_eq!(user["not"], json!({"enum": ["local", "system"]}));
        assert!(user.get(RESERVED_KEY).is_none());
        let role = get("/components/schemas/BindingBody/properties/role/enum");
        assert_eq!(
            role,
            json!(["admin", "operator", "developer", "viewer", "auditor"])
        );
        let replicas = get("/components/schemas/ScaleBody/properties/replicas");
        assert_eq!(
            replicas["maximum"],
            json!(bulkhead_core::spec::MAX_REPLICAS)
        );
        assert_eq!(replicas["minimum"], json!(0));
        let created = get("/components/schemas/TokenReply/properties/created_at");
        assert_eq!(created["format"], json!("date-time"));
        let since = get("/paths/~1v1~1audit/get/parameters/0/schema");
        assert_eq!(since["format"], json!("date-time"));
    }
}
