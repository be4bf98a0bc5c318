//! The workflow's error type.

/// What can stop a stage or a run. [`Error::is_bad_input`] tells a user's mistake (bad data,
/// bad arguments) from a failure of the machinery.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument out of its range (NUM_PCA = 0, NUM_RF < NUM_PCA, ...).
    #[error("invalid argument {name}: {reason}")]
    InvalidArgument { name: &'static str, reason: String },

    /// Nothing under a data prefix.
    #[error("no objects under `{prefix}` in {store}")]
    EmptyPrefix { prefix: String, store: String },

    /// Objects under a prefix, but none of them an image.
    #[error(
        "no images under `{prefix}` in {store}: {skipped} files skipped (hidden, or not .png, .jpg or .jpeg)"
    )]
    NoImages {
        prefix: String,
        store: String,
        skipped: usize,
    },

    /// An object directly under the prefix, outside any class folder.
    #[error("`{key}` is not inside a class folder: images must be at {prefix}/<class>/<file>")]
    NotInClassFolder { key: String, prefix: String },

    /// Training data with a single class.
    #[error("`{prefix}` has one class only (`{class}`): a classifier needs at least two")]
    OneClass { prefix: String, class: String },

    /// Too few images for the requested fan-out.
    #[error("too few images: {reason}")]
    TooFewImages { reason: String },

    /// More images under a prefix than the limit allows.
    #[error("`{prefix}` holds {count} objects, over the limit of {limit} images per prefix")]
    TooManyImages {
        prefix: String,
        count: usize,
        limit: usize,
    },

    /// A test image whose class the training data does not have.
    #[error("test image `{key}` has class `{class}`, which the training data does not have")]
    UnknownTestClass { class: String, key: String },

    /// An object that should be an image could not be used as one.
    #[error("image `{key}` cannot be used")]
    Image {
        key: String,
        #[source]
        source: mltrain_core::Error,
    },

    /// Objects with an image extension that cannot be used as images: every one a stage
    /// found, `(key, why)`, so one run names them all.
    #[error("{}", bad_images_message(bad))]
    BadImages { bad: Vec<(String, String)> },

    /// A stored intermediate object or model is damaged, foreign or of another version.
    #[error("object `{key}` is damaged, foreign or of another version")]
    Corrupt {
        key: String,
        #[source]
        source: mltrain_core::Error,
    },

    /// Compute failed on valid-looking data (e.g. PCA on too few images).
    #[error("{stage} failed on its data")]
    Compute {
        stage: &'static str,
        #[source]
        source: mltrain_core::Error,
    },

    /// The store failed.
    #[error(transparent)]
    Store(#[from] mltrain_store::Error),

    /// A stage failed; names which one.
    #[error("stage {stage} failed")]
    Stage {
        stage: String,
        #[source]
        source: Box<Error>,
    },

    /// A function run elsewhere (over HTTP, from a job) failed; carries what its reply said.
    #[error("function {function} failed ({status}): {message}")]
    Remote {
        function: String,
        /// The transport's status code (HTTP status), 0 when there was no reply.
        status: u16,
        message: String,
        bad_input: bool,
        retryable: bool,
    },

    /// A background task died (a cancelled runtime).
    #[error("{stage}: worker task failed: {reason}")]
    Task { stage: &'static str, reason: String },

    /// A stage's code panicked: a bug in mltrain, never retried.
    #[error(
        "{stage} panicked: {message} (this is a bug in mltrain, not a fault of the data or the store; please report it)"
    )]
    Panic {
        stage: &'static str,
        message: String,
    },

    /// A stage would need more memory than the budget allows; nothing was allocated.
    #[error(
        "{function} would need about {} of memory, over the budget of {}: {advice}",
        crate::memory::human(*needed),
        crate::memory::human(*budget)
    )]
    OverBudget {
        function: String,
        needed: u64,
        budget: u64,
        advice: String,
    },
}

impl Error {
    /// Whether the user can fix this by changing arguments or data (exit code 2), as opposed
    /// to a runtime failure (exit code 1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::InvalidArgument { .. }
            | Error::EmptyPrefix { .. }
            | Error::NoImages { .. }
            | Error::NotInClassFolder { .. }
            | Error::OneClass { .. }
            | Error::TooFewImages { .. }
            | Error::TooManyImages { .. }
            | Error::UnknownTestClass { .. }
            | Error::OverBudget { .. }
            | Error::Image { .. }
            | Error::BadImages { .. } => true,
            Error::Compute { source, .. } => matches!(
                source,
                mltrain_core::Error::InvalidParameter { .. }
                    | mltrain_core::Error::NotEnoughData { .. }
            ),
            Error::Store(e) => matches!(
                e,
                mltrain_store::Error::InvalidUrl { .. }
                    | mltrain_store::Error::InvalidKey { .. }
                    | mltrain_store::Error::NoBucket { .. }
            ),
            Error::Stage { source, .. } => source.is_bad_input(),
            Error::Remote { bad_input, .. } => *bad_input,
            Error::Corrupt { .. } | Error::Task { .. } | Error::Panic { .. } => false,
        }
    }

    /// Whether running the same function again with the same input may succeed: the store or
    /// the transport failed, not the data. Stages are idempotent, so retrying is always safe.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store(e) => matches!(e, mltrain_store::Error::Backend { .. }),
            Error::Stage { source, .. } => source.is_retryable(),
            Error::Remote { retryable, .. } => *retryable,
            Error::Task { .. } => true,
            _ => false,
        }
    }

    /// Whether the cause is images that do not decode (which `--skip-invalid` leaves out).
    pub fn bad_images(&self) -> bool {
        match self {
            Error::BadImages { .. } => true,
            Error::Stage { source, .. } => source.bad_images(),
            _ => false,
        }
    }

    #[cfg(feature = "io")]
    pub(crate) fn in_stage(self, stage: impl Into<String>) -> Self {
        match self {
            e @ Error::Stage { .. } => e,
            e => Error::Stage {
                stage: stage.into(),
                source: Box::new(e),
            },
        }
    }
}

/// How many bad images an error lists before it only counts the rest.
pub const LISTED_BAD_IMAGES: usize = 20;

fn bad_images_message(bad: &[(String, String)]) -> String {
    let mut text = format!(
        "{} image{} cannot be used (fix or remove {}, or pass --skip-invalid to train without {}):",
        bad.len(),
        if bad.len() == 1 { "" } else { "s" },
        if bad.len() == 1 { "it" } else { "them" },
        if bad.len() == 1 { "it" } else { "them" },
    );
    for (key, why) in bad.iter().take(LISTED_BAD_IMAGES) {
        text.push_str(&format!("\n    `{key}`: {why}"));
    }
    if bad.len() > LISTED_BAD_IMAGES {
        text.push_str(&format!(
            "\n    ... and {} more",
            bad.len() - LISTED_BAD_IMAGES
        ));
    }
    text
}

/// Result with the workflow's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
