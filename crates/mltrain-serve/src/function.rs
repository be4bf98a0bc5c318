//! The functions mltrain serves, their routes and their CloudEvent types.

use serde::{Deserialize, Serialize};

use mltrain_workflow::params::Params;
use mltrain_workflow::stage::StageId;

/// One workflow function: the four stages ([`StageId`], whose names they take) and the
/// driver that chains them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    /// `POST /partition`: the partition stage.
    Partition,
    /// `POST /pca`: one PCA function.
    Pca,
    /// `POST /rf`: one random forest.
    Rf,
    /// `POST /validation`: the validation stage, which publishes the model.
    Validation,
    /// `POST /driver`: a whole run ([`DriverInput`]), its stages called through the
    /// runner's [`Backend`](crate::Backend).
    Driver,
}

/// Path of the health probe.
pub const HEALTH_PATH: &str = "/healthz";
/// Port served when neither `--port` nor `$PORT` says otherwise (Knative's default too).
pub const DEFAULT_PORT: u16 = 8080;
/// Where Knative JobSink mounts the event of a job.
pub const JOBSINK_EVENT_FILE: &str = "/etc/jobsink-event/event";
/// Prefix of every CloudEvent type mltrain sends.
pub const TYPE_PREFIX: &str = "dev.mltrain.";

impl Function {
    /// Every function: the stages in the order a run calls them, then the driver.
    pub const ALL: [Function; 5] = [
        Function::Partition,
        Function::Pca,
        Function::Rf,
        Function::Validation,
        Function::Driver,
    ];

    /// The function's name: its stage's, or `driver`.
    pub fn name(self) -> &'static str {
        self.stage().map_or("driver", StageId::name)
    }

    /// The stage this function runs; `None` for the driver.
    pub fn stage(self) -> Option<StageId> {
        match self {
            Function::Partition => Some(StageId::Partition),
            Function::Pca => Some(StageId::Pca),
            Function::Rf => Some(StageId::Rf),
            Function::Validation => Some(StageId::Validation),
            Function::Driver => None,
        }
    }

    /// The function called `name` (`partition`, `pca`, `rf`, `validation`, `driver`), if
    /// there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// `POST` route of the function.
    pub fn path(self) -> String {
        format!("/{}", self.name())
    }

    /// CloudEvent type of a request carrying the function's input.
    pub fn request_type(self) -> String {
        format!("{TYPE_PREFIX}{}.request", self.name())
    }

    /// CloudEvent type of a reply carrying the function's output.
    pub fn response_type(self) -> String {
        format!("{TYPE_PREFIX}{}.response", self.name())
    }

    /// CloudEvent type of a step of the event-driven flow ([`crate::flow`]).
    pub fn flow_type(self) -> String {
        format!("{TYPE_PREFIX}flow.{}", self.name())
    }

    /// CloudEvent source of events the function emits.
    pub fn source(self) -> String {
        format!("/mltrain/{}", self.name())
    }
}

impl From<StageId> for Function {
    fn from(stage: StageId) -> Self {
        match stage {
            StageId::Partition => Function::Partition,
            StageId::Pca => Function::Pca,
            StageId::Rf => Function::Rf,
            StageId::Validation => Function::Validation,
        }
    }
}

impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Function {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::from_name(s).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|f| f.name()).collect();
            format!("unknown function `{s}` (one of {})", names.join(", "))
        })
    }
}

/// What a CloudEvent type asks for: a plain call of a function, or a step of the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `dev.mltrain.<function>.request`: a plain call, answered with its response.
    Request(Function),
    /// `dev.mltrain.flow.<function>`: a step of the event-driven flow ([`crate::flow`]).
    Flow(Function),
    /// `dev.mltrain.<function>.response`: a function's output.
    Response(Function),
}

impl EventKind {
    /// Reads a `dev.mltrain.*` type; `None` for foreign types.
    pub fn parse(ty: &str) -> Option<Self> {
        let rest = ty.strip_prefix(TYPE_PREFIX)?;
        if let Some(name) = rest.strip_prefix("flow.") {
            return Function::from_name(name).map(EventKind::Flow);
        }
        let (name, kind) = rest.rsplit_once('.')?;
        let f = Function::from_name(name)?;
        match kind {
            "request" => Some(EventKind::Request(f)),
            "response" => Some(EventKind::Response(f)),
            _ => None,
        }
    }
}

/// Input of the driver function: a whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriverInput {
    /// The parameters of the run to start; checked before any stage runs.
    pub params: Params,
    /// The run's id; a new one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Functions of one stage running at once; the server's setting when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    #[test]
    fn names_types_and_kinds_agree() {
        for stage in StageId::ALL {
            assert_eq!(Function::from(stage).stage(), Some(stage));
            assert_eq!(Function::from(stage).name(), stage.name());
        }
        assert_eq!(Function::Driver.stage(), None);
        for f in Function::ALL {
            assert_eq!(f.name().parse::<Function>(), Ok(f));
            assert_eq!(
                EventKind::parse(&f.request_type()),
                Some(EventKind::Request(f))
            );
            assert_eq!(
                EventKind::parse(&f.response_type()),
                Some(EventKind::Response(f))
            );
            assert_eq!(EventKind::parse(&f.flow_type()), Some(EventKind::Flow(f)));
        }
        assert_eq!(EventKind::parse("com.example.other"), None);
        assert_eq!(EventKind::parse("dev.mltrain.nope.request"), None);
        assert!("nope".parse::<Function>().is_err());
    }
}
