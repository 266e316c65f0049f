//! The OpenAPI 3 description of the API, generated from the route table (paths, methods,
//! parameters, bodies) and the body types' derived schemas: what is served at
//! `/v1/openapi.json` can only describe what the router really does.

use bulkhead_core::auth::Action;
use serde_json::Value;
use utoipa::PartialSchema;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApiBuilder, PathsBuilder, Ref, RefOr,
    Required, ResponseBuilder, Schema,
};

use super::routes::{
    BindingBody, DeployBody, Method, ROUTES, RollbackBody, ScaleBody, SecretBody, TokenBody,
    UserBody,
};

fn schema_type(name: &str) -> Type {
    match name {
        "boolean" => Type::Boolean,
        "integer" => Type::Integer,
        _ => Type::String,
    }
}

fn error_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
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
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .min_length(Some(1)),
                    )),
            );
        }
        for (name, ty, about) in r.query {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(*about))
                    .schema(Some(ObjectBuilder::new().schema_type(schema_type(ty)))),
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
        let ok_schema = if r.action == Action::AuditExport {
            ObjectBuilder::new().schema_type(Type::String).into()
        } else {
            ObjectBuilder::new().schema_type(Type::Object).into()
        };
        let ok_type = if r.action == Action::AuditExport {
            "application/x-ndjson"
        } else {
            "application/json"
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
    let components = ComponentsBuilder::new()
        .schema("Error", error_schema())
        .schema("DeployBody", DeployBody::schema())
        .schema("ScaleBody", ScaleBody::schema())
        .schema("RollbackBody", RollbackBody::schema())
        .schema("UserBody", UserBody::schema())
        .schema("TokenBody", TokenBody::schema())
        .schema("BindingBody", BindingBody::schema())
        .schema("SecretBody", SecretBody::schema())
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
    serde_json::to_value(doc).unwrap_or(Value::Null)
}
