//! The serving crate's error type.

/// What can go wrong around a function call: the event, the transport or the flow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is not a usable CloudEvent, or its data does not fit the function.
    #[error("bad event: {reason}")]
    BadEvent {
        /// What is wrong with it, e.g. that it has no data, or why its data does not
        /// deserialize as the function's input.
        reason: String,
    },

    /// An event of a type this endpoint does not take.
    #[error("event type `{ty}` is not for {function}")]
    WrongType {
        /// The event's type as received, e.g. `dev.mltrain.flow.rf` posted to `/pca`.
        ty: String,
        /// The function whose route received it.
        function: crate::Function,
    },

    /// Serializing an output failed.
    #[error("cannot encode the output")]
    Encode {
        /// Why the value (an output, or an event's data) does not serialize as JSON.
        #[source]
        source: serde_json::Error,
    },

    /// The function itself failed.
    #[error(transparent)]
    Workflow(#[from] mltrain_workflow::Error),

    /// A follow-up event could not be delivered to the sink.
    #[error("cannot post a follow-up event to the sink: {reason}")]
    Sink {
        /// What failed: the sink's URL with its answer or transport error, or why the
        /// client or the request could not be built.
        reason: String,
        /// Whether posting again may pass: `true` once the sink failed every try (no reply
        /// or a non-2xx answer), `false` when the client or request could not be built.
        retryable: bool,
    },

    /// A step fans out, and nothing says where its follow-up events go.
    #[error("{function} fans out to {events} events, and no sink is set (K_SINK or --sink)")]
    NoSink {
        /// The step that fanned out.
        function: crate::Function,
        /// How many follow-up events it made: two or more, since a reply carries one.
        events: usize,
    },

    /// A JobSink event file could not be read.
    #[error("cannot read the event file `{}`", path.display())]
    EventFile {
        /// The file given, by default [`JOBSINK_EVENT_FILE`](crate::JOBSINK_EVENT_FILE).
        path: std::path::PathBuf,
        /// The I/O error reading it.
        #[source]
        source: std::io::Error,
    },

    /// The server could not bind or serve.
    #[error("cannot serve on {addr}")]
    Serve {
        /// The listener's local address, e.g. `0.0.0.0:8080`; empty when it has none.
        addr: String,
        /// The I/O error serving it.
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
