//! The command line: argument structs only; the work is in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mltrain_core::image::ImageSize;

#[derive(Debug, Parser)]
#[command(
    name = "mltrain",
    version,
    about = "The ml-training workflow: PCA and random forests over images in an object store"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Object store: file:///abs/dir, memory://, s3://BUCKET, or a directory path starting
    /// with /, ./ or ../ [default: a directory under the user's data dir, e.g.
    /// ~/.local/share/mltrain/store]. Not used by `dataset`, which writes to --out.
    #[arg(long, global = true, env = "MLTRAIN_STORE", value_name = "URL|PATH")]
    pub store: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the workflow: partition → PCA ×NUM_PCA → random forest ×NUM_RF → validation
    Run(RunArgs),
    /// Write data sets as ImageFolder trees (DIR/<label>/<index>.png)
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Storage commands of the original workflow, on any store
    #[command(subcommand)]
    S3(S3Command),
    /// Classify image files with a published model
    Predict(PredictArgs),
    /// Write a published model as an ONNX file, for serving stacks that read ONNX
    Export(ExportArgs),
    /// Write a run's report page (validation/report.html) again, with every call's bar, and
    /// print where it is
    Report(ReportArgs),
    /// List the runs of the store, newest first; show, delete or garbage-collect them
    Runs(RunsArgs),
    /// Serve the workflow functions over HTTP with CloudEvents (Knative services)
    Serve(ServeArgs),
    /// Run one function from a Knative JobSink event file and post its follow-up events
    Job(JobArgs),
}

/// Where `mltrain run` (and a served driver) runs the stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// In this process
    Local,
    /// Over HTTP, at the URLs of --function-url / --functions-url
    Http,
    /// Each call's compute in its own WebAssembly instance (wasmtime), this process doing
    /// the store I/O; `mltrain run` only, in a build with the `wasm` feature
    Wasm,
}

#[derive(Debug, Args)]
pub struct WasmArgs {
    /// The stages' WebAssembly module (built by scripts/build-wasm.sh); --backend wasm only
    /// [default: target/wasm/mltrain-guest.wasm]
    #[arg(long, value_name = "PATH", env = "MLTRAIN_WASM_MODULE")]
    pub module: Option<PathBuf>,
    /// Linear memory one instance may grow to, e.g. 512M or 2G (at most 4G); --backend wasm
    /// only [default: 2G]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub wasm_memory: Option<u64>,
    /// Seconds one call may run in its instance; --backend wasm only [default: 900]
    #[arg(long, value_name = "SECS")]
    pub wasm_timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct HttpArgs {
    /// URLs of one function's replicas: NAME=URL[,URL...] (repeatable; overrides --functions-url)
    #[arg(long, value_name = "NAME=URL[,URL...]")]
    pub function_url: Vec<String>,
    /// Base URL serving every function at BASE/<function>
    #[arg(long, value_name = "BASE", env = "MLTRAIN_FUNCTIONS_URL")]
    pub functions_url: Option<String>,
    /// Seconds one HTTP function call may take before it counts as failed (and is retried
    /// if attempts remain); --backend http only [default: 900]
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Serve only this function (repeatable) [default: all: partition, pca, rf, validation, driver]
    #[arg(long = "function", value_name = "NAME")]
    pub functions: Vec<mltrain_serve::Function>,
    /// Port to listen on; 0 picks a free one (printed on stdout)
    #[arg(long, env = "PORT", default_value_t = mltrain_serve::DEFAULT_PORT)]
    pub port: u16,
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    pub host: String,
    /// Where the served driver runs the stages
    #[arg(long, value_enum, default_value_t = BackendKind::Local)]
    pub backend: BackendKind,
    #[command(flatten)]
    pub http: HttpArgs,
    /// Functions of one stage the served driver runs at once
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: usize,
    /// Where event-flow steps post their follow-up events (a channel or broker URL)
    #[arg(long, value_name = "URL", env = "K_SINK")]
    pub sink: Option<String>,
}

#[derive(Debug, Args)]
pub struct JobArgs {
    /// The event to run: structured-mode CloudEvent JSON
    #[arg(long, value_name = "PATH", env = "MLTRAIN_EVENT_FILE", default_value = mltrain_serve::JOBSINK_EVENT_FILE)]
    pub event_file: PathBuf,
    /// Where to post the follow-up events; without it they are printed on stdout
    #[arg(long, value_name = "URL", env = "K_SINK")]
    pub sink: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Data prefix in the store: PREFIX/<class>/<image>
    #[arg(default_value = mltrain_workflow::params::DEFAULT_PREFIX)]
    pub prefix: String,
    /// Number of PCA functions
    #[arg(default_value_t = 2)]
    pub num_pca: usize,
    /// Number of random forests (at least NUM_PCA)
    #[arg(default_value_t = 8)]
    pub num_rf: usize,
    /// A labeled test prefix; without it, --holdout of PREFIX is held out
    #[arg(long, value_name = "PREFIX")]
    pub test: Option<String>,
    /// Share of each class of PREFIX held out for testing when --test is not given
    #[arg(long, value_name = "F", default_value_t = 0.2, conflicts_with = "test")]
    pub holdout: f64,
    /// PCA components kept
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub components: usize,
    /// Trees per forest
    #[arg(long, value_name = "T", default_value_t = 100)]
    pub trees: usize,
    /// Maximum tree depth
    #[arg(long, value_name = "D", default_value_t = 10)]
    pub max_depth: usize,
    /// Minimum samples a node needs to be split
    #[arg(long, value_name = "S", default_value_t = 5)]
    pub min_samples_split: usize,
    /// Seed of every random choice: same data, parameters and seed give the same model
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Resize every image to WxH (without it, all images must have one size)
    #[arg(long, value_name = "WxH")]
    pub resize: Option<ImageSize>,
    /// Colour channels the images are read with: auto is rgb when a sample of the training
    /// images has colour and grey otherwise; transparency is composited over white
    #[arg(long, value_enum, default_value_t = ChannelsArg::Auto)]
    pub channels: ChannelsArg,
    /// Memory the functions running at once may plan to use, e.g. 4G or 512M; a run that
    /// would need more stops before it allocates [default: half of the machine's memory, or
    /// of the process's address-space limit or the cgroup's limit when lower]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_budget: Option<u64>,
    /// Functions of one stage running at once
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: usize,
    /// Train without the images that have an image extension but do not decode, listing
    /// them in the report (without it, such images stop the run, all of them named)
    #[arg(long)]
    pub skip_invalid: bool,
    /// Tries per function call, the first included, on every backend; only failures that
    /// may pass (the store or the transport, not the data) are tried again
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub attempts: u32,
    /// Finish run RUN_ID, re-running only the functions whose outputs are missing or invalid,
    /// with the parameters it was started with. Only --json, --concurrency, --attempts,
    /// --backend and its URLs and --timeout may be given with it; options that would change
    /// the model (PREFIX, --resize, --trees, ...) are refused
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// Print the report as one JSON object on stdout (no progress bars)
    #[arg(long)]
    pub json: bool,
    /// Where the stages run
    #[arg(long, value_enum, default_value_t = BackendKind::Local)]
    pub backend: BackendKind,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub wasm: WasmArgs,
    /// The ids of the options given on the command line (not defaults or environment), so
    /// that --resume can refuse the ones it cannot apply; filled in by `main`.
    #[arg(skip)]
    pub given: Vec<String>,
}

/// `--channels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChannelsArg {
    /// RGB if the training images have colour, grey otherwise
    Auto,
    /// One grey level per pixel (ITU-R 601 luma of colour)
    Grey,
    /// Red, green and blue levels per pixel
    Rgb,
}

impl From<ChannelsArg> for mltrain_workflow::params::ChannelMode {
    fn from(c: ChannelsArg) -> Self {
        match c {
            ChannelsArg::Auto => Self::Auto,
            ChannelsArg::Grey => Self::Grey,
            ChannelsArg::Rgb => Self::Rgb,
        }
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    mltrain_workflow::memory::parse_size(s)
}

#[derive(Debug, Args)]
#[command(after_help = "\
The page is one self-contained HTML file (no script, nothing fetched): accuracy and counts,
the confusion matrix as a heat map, precision and recall per class, and a timeline with one
bar per function call. Every run writes it when it validates; this command writes it again
from the run's report.json and all its call records (the validation call's own record
included, which a run's page cannot have yet). On a file:// store it prints the file's path,
otherwise the store URL and key.")]
pub struct ReportArgs {
    /// The run, as `mltrain runs` lists it
    #[arg(value_name = "RUN_ID")]
    pub run_id: String,
    /// Open the page in the default browser (a copy in the temp dir for a store that is not
    /// a local directory)
    #[arg(long)]
    pub open: bool,
}

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "\
Status: `published` (its model exists: validation publishes last), `failed` or
`interrupted` (no model; `mltrain run` recorded the error or the Ctrl-C in the run's
outcome.json), `unfinished` (no model and no outcome: killed, driven by a served driver or
the event flow, or still running).
The start time comes from the run id, in UTC."
)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: Option<RunsCommand>,
    /// Print the list as one JSON array (each run with its parameters, status, accuracy,
    /// model key, objects and bytes)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Print one run's report summary, or how far it got and why it stopped
    Show {
        /// The run, as `mltrain runs` lists it
        #[arg(value_name = "RUN_ID")]
        run_id: String,
        /// Print the run's report.json as it is (the run's listing when it has no report)
        #[arg(long)]
        json: bool,
    },
    /// Delete runs: every output under ml-training/outputs/RUN_ID/ and the model
    ///
    /// Refuses, deleting nothing, when any RUN_ID is not a run of the store.
    Rm {
        /// The runs to delete
        #[arg(required = true, value_name = "RUN_ID")]
        run_ids: Vec<String>,
    },
    /// Keep the newest N published runs and delete the older published ones, and every
    /// failed or interrupted run
    ///
    /// Unfinished runs (no model, no recorded outcome) may still be running, so they are
    /// kept unless --unfinished is given. `predict` without --model then uses the newest
    /// published model left.
    Gc {
        /// Published runs to keep, the newest ones
        #[arg(long, value_name = "N")]
        keep: usize,
        /// Delete unfinished runs too (make sure none is still running)
        #[arg(long)]
        unfinished: bool,
        /// Print what would be deleted, and delete nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// MNIST digits: the bundled 10,000 (in a fixed shuffled order), or your own IDX files
    Mnist(MnistArgs),
}

#[derive(Debug, Args)]
pub struct MnistArgs {
    /// Output directory
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// How many digits to write [default: all after --skip]
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// Skip this many digits first
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub skip: usize,
    /// Read official MNIST IDX files (gzipped or not) instead of the bundled digits
    #[arg(long, num_args = 2, value_names = ["IMAGES", "LABELS"])]
    pub idx: Option<Vec<PathBuf>>,
    /// Write N distorted copies (shift, rotation, scale) of the training digits instead
    #[arg(long, value_name = "N", conflicts_with_all = ["count", "skip"])]
    pub augment: Option<usize>,
    /// Seed of --augment
    #[arg(long, value_name = "N", default_value_t = 0, requires = "augment")]
    pub seed: u64,
}

#[derive(Debug, Subcommand)]
pub enum S3Command {
    /// Upload a local directory, recursively and concurrently, following symlinks
    ///
    /// Uploads the images (.png, .jpg, .jpeg, in any case) below DIR to PREFIX/<relative
    /// path>, as `mltrain run` reads them. Hidden files and folders (names starting with `.`)
    /// and files of other extensions are skipped; symlinks to files and folders are followed,
    /// except a symlink back to a folder above it (a cycle). The summary says how many were
    /// uploaded, and lists every file skipped and why.
    ///
    /// With --pack, the images go into tar shards of about --shard-size under
    /// PREFIX/.pack/, then one index (PREFIX/.pack/index.json) written last: the packed
    /// layout, for S3 with many small images. `mltrain run` reads either layout.
    UploadDir {
        /// The local directory to upload
        #[arg(long, value_name = "DIR")]
        host_path: PathBuf,
        /// The key prefix to upload to: DIR/a/b.png becomes PREFIX/a/b.png
        #[arg(long, value_name = "PREFIX")]
        s3_path: String,
        /// Uploads in flight at once (with --pack: files read at once, while shards are
        /// written four at a time)
        #[arg(long, value_name = "N", default_value_t = mltrain_store::DEFAULT_CONCURRENCY)]
        concurrency: usize,
        /// Upload every file, not only images (hidden ones too); symlinks are still followed
        #[arg(long, conflicts_with = "pack")]
        all_files: bool,
        /// Pack the images into tar shards plus an index instead of one object per image
        #[arg(long)]
        pack: bool,
        /// With --pack: the size a shard closes at, e.g. 16M or 1G; memory holds about five
        /// shards at once [default: 64M]
        #[arg(long, value_name = "BYTES", value_parser = parse_size, requires = "pack")]
        shard_size: Option<u64>,
    },
    /// Convert a prefix of per-image objects to the packed layout, in place
    ///
    /// Packs the images below PREFIX (as `mltrain run` lists them) into tar shards under
    /// PREFIX/.pack/ and writes their index last; only then deletes the loose images the
    /// index holds. Other files stay. Interrupted, it is safe to run again: on a prefix
    /// already packed it deletes the loose images its index holds byte for byte, and
    /// refuses (deleting nothing) if any loose image is not in the index as it is.
    Pack {
        /// The key prefix to convert
        #[arg(long, value_name = "PREFIX")]
        s3_path: String,
        /// The size a shard closes at, e.g. 64M or 1G; memory holds about five shards at once
        #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "64M")]
        shard_size: u64,
        /// Images fetched (and loose images deleted) at once
        #[arg(long, value_name = "N", default_value_t = mltrain_store::DEFAULT_CONCURRENCY)]
        concurrency: usize,
    },
    /// Delete every object under a prefix; prints how many were deleted
    ClearDir {
        /// The key prefix whose objects are deleted (as a folder: `a/b` deletes `a/b/...`,
        /// not `a/bc`)
        #[arg(long, value_name = "PREFIX")]
        prefix: String,
    },
    /// List the objects under a prefix: one `SIZE  KEY` line each, sorted by key
    Ls {
        /// The key prefix to list, as a folder [default: the whole store]
        #[arg(default_value = "")]
        prefix: String,
    },
}

#[derive(Debug, Args)]
#[command(after_help = "\
Output: one line per image on stdout, PATH<TAB>LABEL<TAB>PROBABILITY, or with --json one
JSON object per line: {\"path\": ..., \"label\": ..., \"probability\": ...,
\"probabilities\": {CLASS: P, ...}}. A file that cannot be read or decoded gets its own
`error: PATH: ...` line on stderr, the others are still classified, and the exit code is 2.
Exit codes: 0 all classified, 2 some file (or an argument) was bad, 1 a runtime failure.")]
pub struct PredictArgs {
    /// The model: a run id, or a model's key [default: the latest published model]
    #[arg(long, value_name = "RUN_ID|KEY")]
    pub model: Option<String>,
    /// Print one JSON object per image, with every class's probability
    #[arg(long)]
    pub json: bool,
    /// Image files, or directories whose images (.png, .jpg, .jpeg; hidden files skipped)
    /// are classified. Each is resized to the model's image size, as in training
    #[arg(required = true, value_name = "IMAGE|DIR")]
    pub images: Vec<PathBuf>,
}

/// What `mltrain export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One ONNX graph for the whole ensemble (opset 17 with ai.onnx.ml 3)
    Onnx,
}

#[derive(Debug, Args)]
#[command(after_help = "\
The ONNX graph: input `pixels`, float32 [N, H*W*C], raw pixel values 0-255 of images already
at the model's size, row-major in height, width, channel order (C = 1 for a grey model, 3
for RGB); outputs `label` (int64 [N], the class index) and `probabilities` (float32
[N, classes]), as `mltrain predict` computes them. The model's metadata holds the class
names as a JSON array under `classes`, and {\"width\", \"height\", \"channels\"} under `input`.
Exit codes: 0 written, 2 a bad argument or no published model at all, 1 a runtime failure
(a model that cannot be loaded, a file that cannot be written).")]
pub struct ExportArgs {
    /// The model: a run id, or a model's key [default: the latest published model]
    #[arg(long, value_name = "RUN_ID|KEY")]
    pub model: Option<String>,
    /// The file format to write
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// The file to write (replaced if it exists)
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,
}
