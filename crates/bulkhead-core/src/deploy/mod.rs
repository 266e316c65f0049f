//! Deploying, as decisions: the container template of a service and its hash, and the
//! reconciler's `plan(desired, observed)`.

mod plan;
mod template;

pub use plan::{
    Desired, DesiredNetwork, DesiredService, Observed, ObservedContainer, ObservedRules, Op, Plan,
    Rollout, plan,
};
pub use template::{
    EngineTemplate, HealthTemplate, MountTemplate, PortTemplate, Template, template,
};
