//! The serving crate's error type.

/// What can go wrong around a function call: the event, the transport or the flow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is not a usable CloudEvent, or its data does not fit the function.
    #[error("bad event: {reason}")]
    BadEvent { reason: String },

    /// An event of a type this endpoint does not take.
    #[error("event type `{ty}` is not for {function}")]
    WrongType {
        ty: String,
        function: crate::Function,
    },

    /// Serializing an output failed.
    #[error("cannot encode the output")]
    Encode {
        #[source]
        source: serde_json::Error,
    },

    /// The function itself failed.
    #[error(transparent)]
    Workflow(#[from] mltrain_workflow::Error),

    /// A follow-up event could not be delivered to the sink.
    #[error("cannot post a follow-up event to the sink: {reason}")]
    Sink { reason: String, retryable: bool },

    /// A step fans out, and nothing says where its follow-up events go.
    #[error("{function} fans out to {events} events, and no sink is set (K_SINK or --sink)")]
    NoSink {
        function: crate::Function,
        events: usize,
    },

    /// A JobSink event file could not be read.
    #[error("cannot read the event file `{}`", path.display())]
    EventFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The server could not bind or serve.
    #[error("cannot serve on {addr}")]
    Serve {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether this is the caller's mistake (a bad event or bad data).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::BadEvent { .. } | Error::WrongType { .. } => true,
            Error::Workflow(e) => e.is_bad_input(),
            _ => false,
        }
    }

    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Workflow(e) => e.is_retryable(),
            Error::Sink { retryable, .. } => *retryable,
            _ => false,
        }
    }
}

/// Result with the serving crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
