//! The verdict in a deploy's reply: the whole document `check --json` prints (`core::verdict`,
//! which the server serializes and no client rebuilds), carried as it is, with the part a client
//! shows — each service's findings and ports, the security groups — read strictly.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// A verdict: the full document, and the summary read from it.
#[derive(Clone, Debug, PartialEq)]
pub struct VerdictDoc {
    pub summary: VerdictSummary,
    document: Value,
}

impl VerdictDoc {
    /// From the verdict's JSON (`serde_json::to_value(&verdict)`); refused when it lacks what
    /// the summary reads.
    pub fn from_document(document: Value) -> Result<VerdictDoc, serde_json::Error> {
        let summary = VerdictSummary::deserialize(&document)?;
        Ok(VerdictDoc { summary, document })
    }

    /// The whole document.
    pub fn document(&self) -> &Value {
        &self.document
    }
}

impl Serialize for VerdictDoc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.document.serialize(s)
    }
}

impl<'de> Deserialize<'de> for VerdictDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<VerdictDoc, D::Error> {
        let document = Value::deserialize(d)?;
        VerdictDoc::from_document(document).map_err(serde::de::Error::custom)
    }
}

/// What a client shows of a verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerdictSummary {
    pub project: String,
    pub deployable: bool,
    pub services: Vec<ServiceSummary>,
    pub topology: TopologySummary,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceSummary {
    pub name: String,
    pub replicas: u32,
    pub findings: Vec<FindingSummary>,
    pub effective: EffectiveSummary,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingSummary {
    /// The rule's id.
    pub rule: String,
    /// `enforced`, `hardened`, `refused`, `waived` or `flagged`.
    pub outcome: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EffectiveSummary {
    pub ports: Vec<PortSummary>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortSummary {
    pub host_ip: String,
    /// `null`: the engine picks a free port.
    #[serde(deserialize_with = "crate::required")]
    pub host_ports: Option<(u16, u16)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopologySummary {
    pub groups: Vec<GroupSummary>,
    /// Paths the security groups cannot close.
    pub caveats: Vec<String>,
}

/// A service's security group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    pub service: String,
    pub allow_from: Vec<String>,
    /// `none` or `internet`.
    pub egress: String,
}

fn object(properties: Vec<(&str, RefOr<Schema>)>) -> ObjectBuilder {
    let mut o = ObjectBuilder::new().schema_type(Type::Object);
    for (name, schema) in properties {
        o = o.property(name, schema).required(name);
    }
    o.additional_properties(Some(AdditionalProperties::FreeForm(true)))
}

fn of(t: Type) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(t).into()
}

fn strings() -> RefOr<Schema> {
    ArrayBuilder::new().items(of(Type::String)).build().into()
}

impl PartialSchema for VerdictDoc {
    fn schema() -> RefOr<Schema> {
        let finding = object(vec![
            ("rule", of(Type::String)),
            ("outcome", of(Type::String)),
        ]);
        let service = object(vec![
            ("name", crate::schema::service_name().into()),
            ("replicas", of(Type::Integer)),
            (
                "findings",
                ArrayBuilder::new().items(finding).build().into(),
            ),
            ("effective", object(vec![]).into()),
        ]);
        let group = object(vec![
            ("service", crate::schema::service_name().into()),
            ("allow_from", strings()),
            ("egress", of(Type::String)),
        ]);
        let topology = object(vec![
            ("groups", ArrayBuilder::new().items(group).build().into()),
            ("caveats", strings()),
        ]);
        object(vec![
            ("project", crate::schema::project_name().into()),
            ("deployable", of(Type::Boolean)),
            (
                "services",
                ArrayBuilder::new().items(service).build().into(),
            ),
            ("topology", topology.into()),
        ])
        .description(Some(
            "the verdict on the project, as `bulkhead check --json` prints it (docs/check.md)",
        ))
        .into()
    }
}

impl ToSchema for VerdictDoc {}

#[cfg(test)]
mod tests {
    use bulkhead_core::hardening::Profile;
    use bulkhead_core::spec::{LoadInput, SourceFile};

    use super::*;

    /// Core's verdict, as the server serializes it, holds everything the summary reads; the
    /// document goes back out unchanged.
    #[test]
    fn a_real_verdict_reads_as_its_summary_and_round_trips() {
        let yaml = "services:\n  Web:\n    image: app@sha256:0000000000000000000000000000000000000000000000000000000000000000\n    user: \"1000:1000\"\n    ports: [\"127.0.0.1:8080:80\"]\n    depends_on: [db]\n  db:\n    image: db:1\n    user: \"1000:1000\"\n";
        let project = bulkhead_core::spec::load(&LoadInput {
            files: vec![SourceFile {
                name: "compose.yaml".into(),
                text: yaml.into(),
            }],
            project_dir: "/srv/shop".into(),
            project_name: None,
            dotenv: None,
            env: Default::default(),
            profiles: Vec::new(),
            extra: Default::default(),
        })
        .unwrap_or_else(|e| panic!("{e:?}"));
        let verdict = bulkhead_core::verdict::check(&project, &Profile::default());
        let document = serde_json::to_value(&verdict).unwrap_or_else(|e| panic!("{e}"));
        let doc = VerdictDoc::from_document(document.clone()).unwrap_or_else(|e| panic!("{e}"));
        let web = doc.summary.services.iter().find(|s| s.name == "Web");
        let port = web.and_then(|s| s.effective.ports.first());
        assert_eq!(
            port.map(|p| (p.host_ip.as_str(), p.host_ports)),
            Some(("127.0.0.1", Some((8080, 8080))))
        );
        let db = doc
            .summary
            .topology
            .groups
            .iter()
            .find(|g| g.service == "db");
        assert_eq!(
            db.map(|g| g.allow_from.clone()),
            Some(vec!["Web".to_string()])
        );
        let again: VerdictDoc =
            serde_json::from_value(serde_json::to_value(&doc).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.document(), &document);
    }

    #[test]
    fn a_verdict_without_its_topology_is_refused_by_name() {
        let partial = serde_json::json!({"project": "p", "deployable": true, "services": []});
        let err = VerdictDoc::from_document(partial)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("missing field `topology`")));
    }
}
