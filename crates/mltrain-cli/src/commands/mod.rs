//! One file per subcommand.

mod dataset;
mod export;
mod job;
mod predict;
mod report;
mod run;
mod runs;
mod s3;
mod serve;

use anyhow::{Context, Result};
use mltrain_store::Store;

use std::time::Duration;

use mltrain_serve::{Backend, ClientConfig, Endpoints, HttpFunctions};
use mltrain_workflow::driver::{Functions, Local};
use mltrain_workflow::layout::{MODELS, RunLayout, valid_run_id};
use mltrain_workflow::objects::Model;
use mltrain_workflow::stage::Stage;
use mltrain_workflow::stages::Ctx;

use crate::cli::{BackendKind, Cli, Command, Global, HttpArgs, RunArgs};
use crate::exit::BadInput;

pub fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => run::run(&cli.global, args),
        Command::Dataset(cmd) => dataset::dataset(cmd),
        Command::S3(cmd) => s3::s3(&cli.global, cmd),
        Command::Predict(args) => predict::predict(&cli.global, args),
        Command::Export(args) => export::export(&cli.global, args),
        Command::Report(args) => report::report(&cli.global, args),
        Command::Runs(args) => runs::runs(&cli.global, args),
        Command::Serve(args) => serve::serve(&cli.global, args),
        Command::Job(args) => job::job(&cli.global, args),
    }
}

/// The store of `--store`, `$MLTRAIN_STORE`, or the default directory in the user's data dir.
pub fn open_store(global: &Global) -> Result<Store> {
    let url = match &global.store {
        Some(location) if is_path(location) => {
            let dir = std::path::absolute(location)
                .with_context(|| format!("cannot resolve store directory `{location}`"))?;
            directory_url(&dir)?
        }
        Some(url) => url.clone(),
        None => {
            let dir = dirs::data_dir()
                .context("no data directory for the default store (set --store or MLTRAIN_STORE)")?
                .join("mltrain")
                .join("store");
            directory_url(&dir)?
        }
    };
    Store::from_url(&url).map_err(|e| match e {
        mltrain_store::Error::InvalidUrl { .. } if !url.contains(':') => {
            BadInput(format!("{e} (a directory path starts with /, ./ or ../)")).into()
        }
        e => e.into(),
    })
}

/// The published model `--model` names (a run id or a key), or the latest one: what
/// `predict` classifies with and `export` writes out.
pub fn load_model(global: &Global, model: Option<&str>) -> Result<Model> {
    let store = open_store(global)?;
    runtime()?.block_on(async {
        store.check_bucket().await?;
        let key = match model {
            Some(model) => model_key(model),
            None => latest_model(&store).await?,
        };
        mltrain_workflow::objects::load_model(&store, &key)
            .await
            .with_context(|| format!("cannot load model `{key}`"))
    })
}

/// `--model`: a run id names the model that run published; anything else is a key.
fn model_key(model: &str) -> String {
    if !model.contains('/') && valid_run_id(model) {
        RunLayout::new(model.trim_end_matches(".model")).model()
    } else {
        model.to_string()
    }
}

/// Run ids start with their UTC start time, so the greatest key is the latest model.
async fn latest_model(store: &mltrain_store::Store) -> Result<String> {
    let models = store.list(MODELS).await?;
    models
        .into_iter()
        .map(|o| o.key)
        .filter(|k| k.ends_with(".model"))
        .max()
        .ok_or_else(|| {
            BadInput(format!(
                "no published model under {MODELS} in {}: run `mltrain run` first",
                store.url()
            ))
            .into()
        })
}

/// Whether a `--store` value is a directory path rather than a URL: only an absolute path or
/// one starting with `./` or `../` is, so that a mistyped URL is refused, not created as a
/// directory.
fn is_path(location: &str) -> bool {
    location.starts_with('/') || location.starts_with("./") || location.starts_with("../")
}

/// The `file://` URL of directory `dir`, which must be absolute.
fn directory_url(dir: &std::path::Path) -> Result<String> {
    Ok(url::Url::from_directory_path(dir)
        .map_err(|()| anyhow::anyhow!("store directory `{}` is not absolute", dir.display()))?
        .to_string())
}

/// The stages' backend of `--backend`: this process, or the URLs of `--function-url` and
/// `--functions-url`. In this process, `concurrency` functions of a stage share
/// `memory_budget` (default: half the machine's memory).
pub fn backend(
    kind: BackendKind,
    http: &HttpArgs,
    store: &Store,
    concurrency: usize,
    memory_budget: Option<u64>,
) -> Result<Backend> {
    let ctx = stage_ctx(store, concurrency, memory_budget)?;
    if kind == BackendKind::Wasm {
        return Err(BadInput(
            "--backend wasm runs the stages of `mltrain run` only; a served driver uses local or http".into(),
        )
        .into());
    }
    if kind == BackendKind::Local {
        if !http.function_url.is_empty() || http.functions_url.is_some() {
            return Err(
                BadInput("--function-url and --functions-url need --backend http".into()).into(),
            );
        }
        // In this process a stage cannot be stopped midway, so there is no timeout to apply.
        if http.timeout.is_some() {
            return Err(BadInput("--timeout needs --backend http".into()).into());
        }
        return Ok(Backend::Local(Local { ctx }));
    }
    let mut endpoints = match &http.functions_url {
        Some(base) => Endpoints::with_base(base).map_err(|e| BadInput(e.to_string()))?,
        None => Endpoints::default(),
    };
    for spec in &http.function_url {
        endpoints.add(spec).map_err(|e| BadInput(e.to_string()))?;
    }
    let missing = endpoints.missing_stages();
    if !missing.is_empty() {
        let names: Vec<_> = missing.iter().map(|f| f.name()).collect();
        return Err(BadInput(format!(
            "--backend http needs a URL for every stage; none for {} (use --function-url NAME=URL or --functions-url BASE)",
            names.join(", ")
        ))
        .into());
    }
    let defaults = ClientConfig::default();
    let config = ClientConfig {
        timeout: http
            .timeout
            .map_or(defaults.timeout, |secs| Duration::from_secs(secs.max(1))),
        concurrency: concurrency.max(1),
        ..defaults
    };
    let functions =
        HttpFunctions::new(endpoints, config).context("cannot build the HTTP client")?;
    Ok(Backend::Http(functions))
}

/// The context the stages run with in this process.
fn stage_ctx(store: &Store, concurrency: usize, memory_budget: Option<u64>) -> Result<Ctx> {
    let mut ctx = Ctx::new(store.clone());
    if let Some(budget) = memory_budget {
        ctx.limits.memory_budget = budget;
    }
    ctx.limits.concurrent_functions = concurrency.max(1);
    if let Some(n) = io_concurrency(std::env::var(IO_CONCURRENCY_ENV).ok().as_deref())? {
        ctx.io_concurrency = n;
    }
    Ok(ctx)
}

/// The environment variable that sets how many store requests a stage call keeps in flight
/// when it reads many objects: a far store needs more to cover its round trip.
pub const IO_CONCURRENCY_ENV: &str = "MLTRAIN_IO_CONCURRENCY";

/// The value of [`IO_CONCURRENCY_ENV`]: `None` when unset or empty, else a positive count.
fn io_concurrency(value: Option<&str>) -> Result<Option<usize>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(BadInput(format!(
                "{IO_CONCURRENCY_ENV}=`{v}` is not a positive number of requests"
            ))
            .into()),
        },
    }
}

/// Where `mltrain run` sends its calls: in this process or over HTTP ([`Backend`]), or each
/// compute in its own WebAssembly instance.
#[derive(Debug)]
pub enum RunBackend {
    /// `--backend local` or `--backend http`.
    Serve(Backend),
    /// `--backend wasm`.
    #[cfg(feature = "wasm")]
    Wasm(mltrain_wasm::WasmFunctions),
}

impl Functions for RunBackend {
    async fn call<S: Stage>(&self, input: S::Input) -> mltrain_workflow::Result<S::Output> {
        match self {
            RunBackend::Serve(backend) => backend.call::<S>(input).await,
            #[cfg(feature = "wasm")]
            RunBackend::Wasm(wasm) => wasm.call::<S>(input).await,
        }
    }
}

/// The backend of `mltrain run`.
pub fn run_backend(args: &RunArgs, store: &Store) -> Result<RunBackend> {
    let wasm = &args.wasm;
    if args.backend != BackendKind::Wasm {
        for (given, name) in [
            (wasm.module.is_some(), "--module"),
            (wasm.wasm_memory.is_some(), "--wasm-memory"),
            (wasm.wasm_timeout.is_some(), "--wasm-timeout"),
        ] {
            if given {
                return Err(BadInput(format!("{name} needs --backend wasm")).into());
            }
        }
        let backend = backend(
            args.backend,
            &args.http,
            store,
            args.concurrency,
            args.memory_budget,
        )?;
        return Ok(RunBackend::Serve(backend));
    }
    if !args.http.function_url.is_empty()
        || args.http.functions_url.is_some()
        || args.http.timeout.is_some()
    {
        return Err(BadInput(
            "--function-url, --functions-url and --timeout need --backend http".into(),
        )
        .into());
    }
    wasm_backend(
        args,
        stage_ctx(store, args.concurrency, args.memory_budget)?,
    )
}

#[cfg(feature = "wasm")]
fn wasm_backend(args: &RunArgs, ctx: Ctx) -> Result<RunBackend> {
    let defaults = mltrain_wasm::Config::default();
    let memory = args.wasm.wasm_memory.unwrap_or(defaults.memory);
    if memory > 4 << 30 {
        return Err(BadInput(format!(
            "--wasm-memory {} is over 4G, the most a wasm32 instance can address",
            mltrain_workflow::memory::human(memory)
        ))
        .into());
    }
    let config = mltrain_wasm::Config {
        memory,
        timeout: args
            .wasm
            .wasm_timeout
            .map_or(defaults.timeout, |secs| Duration::from_secs(secs.max(1))),
        // Compiling the module takes about a second; later runs load the compiled code.
        cache_dir: dirs::cache_dir().map(|d| d.join("mltrain").join("wasm")),
        ..defaults
    };
    let module = args
        .wasm
        .module
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(DEFAULT_MODULE));
    let sandbox = mltrain_wasm::Sandbox::load(&module, config)?;
    Ok(RunBackend::Wasm(mltrain_wasm::WasmFunctions::new(
        ctx, sandbox,
    )))
}

#[cfg(not(feature = "wasm"))]
fn wasm_backend(_: &RunArgs, _: Ctx) -> Result<RunBackend> {
    Err(BadInput(
        "this mltrain was built without the WebAssembly backend: build it with `cargo build --release -p mltrain-cli --features wasm`".into(),
    )
    .into())
}

/// Where `scripts/build-wasm.sh` leaves the module, from the repository's root.
#[cfg(feature = "wasm")]
const DEFAULT_MODULE: &str = "target/wasm/mltrain-guest.wasm";

/// A multi-threaded runtime for the async store and workflow.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    #[test]
    fn io_concurrency_is_a_positive_count_or_unset() {
        assert_eq!(io_concurrency(None).unwrap(), None);
        assert_eq!(io_concurrency(Some(" ")).unwrap(), None);
        assert_eq!(io_concurrency(Some("128")).unwrap(), Some(128));
        for bad in ["0", "-3", "many"] {
            let err = io_concurrency(Some(bad)).unwrap_err();
            assert!(err.is::<BadInput>(), "{bad}: {err}");
            assert!(err.to_string().contains(IO_CONCURRENCY_ENV), "{err}");
        }
    }
}
