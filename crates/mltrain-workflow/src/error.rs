//! The workflow's error type.

/// What can stop a stage or a run. [`Error::is_bad_input`] tells a user's mistake (bad data,
/// bad arguments) from a failure of the machinery.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument out of its range (NUM_PCA = 0, NUM_RF < NUM_PCA, ...).
    #[error("invalid argument {name}: {reason}")]
    InvalidArgument {
        /// The argument as the user knows it: a positional (`NUM_PCA`), an option
        /// (`--components`), or a field of a stage's input (`index`, `run id`).
        name: &'static str,
        /// Why it is refused, e.g. `must be at least 1`.
        reason: String,
    },

    /// Nothing under a data prefix.
    #[error("no objects under `{prefix}` in {store}")]
    EmptyPrefix {
        /// The data prefix, without leading or trailing `/`.
        prefix: String,
        /// The store's URL, e.g. `s3://bucket` or `file:///data`.
        store: String,
    },

    /// Objects under a prefix, but none of them an image.
    #[error(
        "no images under `{prefix}` in {store}: {skipped} files skipped (hidden, or not .png, .jpg or .jpeg)"
    )]
    NoImages {
        /// The data prefix, without leading or trailing `/`.
        prefix: String,
        /// The store's URL, e.g. `s3://bucket` or `file:///data`.
        store: String,
        /// Objects under the prefix passed over as not images (all of them).
        skipped: usize,
    },

    /// A packed image whose bytes are not what its index says: its shard was damaged,
    /// replaced or deleted since the data was packed.
    #[error(
        "packed image `{image}` in shard `{shard}`: {reason}; the packed data is damaged: pack it again (`mltrain s3 upload-dir --pack` or `mltrain s3 pack`)"
    )]
    DamagedPack {
        /// The shard's key.
        shard: String,
        /// The image's key, as if it were stored on its own.
        image: String,
        /// What does not match.
        reason: String,
    },

    /// An object directly under the prefix, outside any class folder.
    #[error("`{key}` is not inside a class folder: images must be at {prefix}/<class>/<file>")]
    NotInClassFolder {
        /// The image's full key, e.g. `data/0.png`.
        key: String,
        /// The data prefix, without leading or trailing `/`.
        prefix: String,
    },

    /// Training data with a single class.
    #[error("`{prefix}` has one class only (`{class}`): a classifier needs at least two")]
    OneClass {
        /// The training prefix, as [`Params::prefix`](crate::params::Params::prefix) gives it.
        prefix: String,
        /// The name of the only class folder found.
        class: String,
    },

    /// Too few images for the requested fan-out.
    #[error("too few images: {reason}")]
    TooFewImages {
        /// Which images are too few for what, and what to do, e.g. that a PCA function gets
        /// fewer training images than the forests it feeds.
        reason: String,
    },

    /// More images under a prefix than the limit allows.
    #[error("`{prefix}` holds {count} objects, over the limit of {limit} images per prefix")]
    TooManyImages {
        /// The prefix listed (training or test), without leading or trailing `/`.
        prefix: String,
        /// Objects listed under it, images or not.
        count: usize,
        /// The context's [`Limits::max_images`](crate::stages::Limits::max_images).
        limit: usize,
    },

    /// A test image whose class the training data does not have.
    #[error("test image `{key}` has class `{class}`, which the training data does not have")]
    UnknownTestClass {
        /// The test prefix's class folder that no training class matches.
        class: String,
        /// The first of that class's test images, in key order.
        key: String,
    },

    /// An object that should be an image could not be used as one.
    #[error("image `{key}` cannot be used")]
    Image {
        /// The image's full key in the store.
        key: String,
        /// Why the decoder refused it (e.g. a header that does not read).
        #[source]
        source: mltrain_core::Error,
    },

    /// Objects with an image extension that cannot be used as images: every one a stage
    /// found, `(key, why)`, so one run names them all.
    #[error("{}", bad_images_message(bad))]
    BadImages {
        /// Each image's key and why it cannot be used (the decoder's error chain on one
        /// line, or that it is no longer in the store); the message lists the first
        /// [`LISTED_BAD_IMAGES`].
        bad: Vec<(String, String)>,
    },

    /// A stored intermediate object or model is damaged, foreign or of another version.
    #[error("object `{key}` is damaged, foreign or of another version")]
    Corrupt {
        /// The object's key, e.g. `ml-training/outputs/<run-id>/pca-0/basis`.
        key: String,
        /// What the envelope check found (bad magic, another kind or version, a wrong length
        /// or checksum), or, when writing, why the value could not be encoded.
        #[source]
        source: mltrain_core::Error,
    },

    /// Compute failed on valid-looking data (e.g. PCA on too few images).
    #[error("{stage} failed on its data")]
    Compute {
        /// The stage whose compute failed: `pca`, `rf` or `validation`.
        stage: &'static str,
        /// The core's error; [`Error::is_bad_input`] reads it to tell data that cannot be
        /// fitted (too few images) from a failure of the machinery.
        #[source]
        source: mltrain_core::Error,
    },

    /// The store failed.
    #[error(transparent)]
    Store(#[from] mltrain_store::Error),

    /// A stage failed; names which one.
    #[error("stage {stage} failed")]
    Stage {
        /// The call that failed, as [`Stage::call_name`](crate::stage::Stage::call_name)
        /// names it (`pca-3`), or `pca` for the bad images of the whole fan-out, merged.
        stage: String,
        /// What went wrong in it; never itself a `Stage` error.
        #[source]
        source: Box<Error>,
    },

    /// A function run elsewhere (over HTTP, from a job) failed; carries what its reply said.
    #[error("function {function} failed ({status}): {message}")]
    Remote {
        /// The function called, by name (`pca`, `driver`).
        function: String,
        /// The transport's status code (HTTP status), 0 when there was no reply.
        status: u16,
        /// What the reply said went wrong, or, without a reply, what the caller saw
        /// (`timed out: <url>`).
        message: String,
        /// Whether the callee judged it the caller's fault (bad data or arguments): exit
        /// code 2, never retried.
        bad_input: bool,
        /// Whether the same call may pass on another try (e.g. no reply, a 503, a proxy's
        /// 502 or 504).
        retryable: bool,
    },

    /// A background task died (a cancelled runtime).
    #[error("{stage}: worker task failed: {reason}")]
    Task {
        /// The stage whose work failed: `partition`, `pca`, `rf` or `validation`.
        stage: &'static str,
        /// The runtime's error for the task, or why a JSON object of the stage (its notes,
        /// report or call record) could not be encoded.
        reason: String,
    },

    /// A stage's code panicked: a bug in mltrain, never retried.
    #[error(
        "{stage} panicked: {message} (this is a bug in mltrain, not a fault of the data or the store; please report it)"
    )]
    Panic {
        /// The stage whose compute panicked: `partition`, `pca`, `rf` or `validation`.
        stage: &'static str,
        /// The panic's message, or `a panic without a message` when it carried none.
        message: String,
    },

    /// A stage would need more memory than the budget allows; nothing was allocated.
    #[error(
        "{function} would need about {} of memory, over the budget of {}: {advice}",
        crate::memory::human(*needed),
        crate::memory::human(*budget)
    )]
    OverBudget {
        /// The call that would not fit: `pca-<index>` or `validation`.
        function: String,
        /// Bytes it is planned to need; for PCA, those of every PCA function that runs at
        /// once with it, since they share the budget.
        needed: u64,
        /// The budget in bytes, [`Limits::memory_budget`](crate::stages::Limits::memory_budget).
        budget: u64,
        /// What the call holds and what would make it fit (`--resize`, more PCA functions,
        /// fewer `--components`, a larger `--memory-budget`).
        advice: String,
    },

    /// A call's compute failed inside its sandbox (a WebAssembly instance): it trapped, went
    /// over its memory cap or its time limit, or the module could not be used.
    #[error("{function} failed in its WebAssembly sandbox: {fault}: {detail}")]
    Sandbox {
        /// The call: `partition`, `pca-<i>`, `rf-<i>-<j>` or `validation`.
        function: String,
        /// What went wrong.
        fault: SandboxFault,
        /// The runtime's words, and what to change.
        detail: String,
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
            | Error::DamagedPack { .. }
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
                    | mltrain_store::Error::Pack { .. }
                    | mltrain_store::Error::Repack { .. }
            ),
            Error::Stage { source, .. } => source.is_bad_input(),
            Error::Remote { bad_input, .. } => *bad_input,
            // Limits the user set, and the module the user named, are the user's to change.
            Error::Sandbox { fault, .. } => *fault != SandboxFault::Trap,
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

/// How a call failed inside its sandbox ([`Error::Sandbox`]). None of these is retried: the
/// same input meets the same fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxFault {
    /// The module trapped (a panic or a bug in the compute): a bug, not the data's fault.
    Trap,
    /// The instance asked for more memory than its cap (`--wasm-memory`).
    OutOfMemory,
    /// The call ran past its time limit (`--wasm-timeout`).
    Timeout,
    /// The module does not load, or does not speak the call ABI (`--module`).
    BadModule,
}

impl std::fmt::Display for SandboxFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SandboxFault::Trap => "trapped",
            SandboxFault::OutOfMemory => "out of memory",
            SandboxFault::Timeout => "timed out",
            SandboxFault::BadModule => "bad module",
        })
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
