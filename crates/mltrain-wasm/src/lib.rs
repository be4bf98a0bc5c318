//! The WebAssembly backend: every stage call's compute runs in a fresh, sandboxed
//! [wasmtime] instance of the `mltrain-guest` module, as every function call runs in its own
//! instance on Faasm.
//!
//! The module is compiled once ([`Sandbox::load`]) and instantiated per call
//! ([`Sandbox::run`]): each instance has its own linear memory, capped
//! ([`Config::memory`]), a time limit enforced by epoch interruption ([`Config::timeout`]),
//! and no filesystem, network, environment or clock beyond what WASI preview 1 gives every
//! module. It reads its call on stdin and writes its reply on stdout
//! ([`mltrain_workflow::guest`], `docs/wasm.md`); this process does the store I/O for it
//! ([`mltrain_workflow::stage::call_with`]), on any store. A trap, the memory cap or the
//! time limit becomes [`Error::Sandbox`] naming the call and the fault, never a crash of
//! mltrain, and is not retried. An instance computes on one core, so validation, the run's
//! last and only call, predicts in parts side by side ([`Config::validation_parts`]).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use mltrain_workflow::driver::Functions;
use mltrain_workflow::guest::{self, Call, Reply, Task};
use mltrain_workflow::stage::{self, Gathered, Stage};
use mltrain_workflow::stages::{Ctx, Env, Predicted};
use mltrain_workflow::{Error, Result, SandboxFault};
use wasmtime::{Engine, InstancePre, Linker, Module, ResourceLimiter, Store, Trap};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

/// How often the time limit is checked.
const TICK: Duration = Duration::from_millis(10);
/// What a module may write to stderr (a panic's message) before the rest is dropped.
const STDERR_CAP: usize = 64 << 10;

/// The limits of every instance, and where compiled code is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Bytes of linear memory one instance may grow to (at most 4 GiB, wasm32's limit).
    pub memory: u64,
    /// How long one call may run inside its instance.
    pub timeout: Duration,
    /// A directory where wasmtime keeps the module's compiled code between runs (keyed by
    /// the module's and the compiler's hash, so a changed module compiles again); `None`
    /// compiles the module on every run.
    pub cache_dir: Option<std::path::PathBuf>,
    /// Parts validation's prediction runs in, side by side, each in its own instance
    /// (`guest::validation_parts`): an instance computes on one core, and validation is
    /// the run's only call at the end. `None`: one per core, at most `--concurrency`.
    pub validation_parts: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            memory: 2 << 30,
            timeout: Duration::from_secs(900),
            cache_dir: None,
            validation_parts: None,
        }
    }
}

/// The compiled module, ready to be instantiated once per call.
pub struct Sandbox {
    engine: Engine,
    pre: InstancePre<State>,
    config: Config,
    /// Stops the epoch ticker when the sandbox goes.
    stop: Arc<AtomicBool>,
    /// Instances started so far.
    started: AtomicUsize,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What one instance holds: its WASI context and its memory cap.
struct State {
    wasi: WasiP1Ctx,
    cap: Cap,
}

/// The memory cap of one instance; remembers that it refused, to tell an out-of-memory
/// from any other trap.
struct Cap {
    max: usize,
    refused: bool,
}

impl ResourceLimiter for Cap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max;
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

fn bad_module(detail: String) -> Error {
    Error::Sandbox {
        function: "module".into(),
        fault: SandboxFault::BadModule,
        detail,
    }
}

impl Sandbox {
    /// Compiles the module in the file at `path`.
    pub fn load(path: &Path, config: Config) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|e| bad_module(format!("cannot read `{}`: {e}", path.display())))?;
        Self::from_bytes(&bytes, config).map_err(|e| match e {
            Error::Sandbox { detail, .. } => bad_module(format!("`{}` {detail}", path.display())),
            e => e,
        })
    }

    /// Compiles the module `bytes` (binary or text format).
    pub fn from_bytes(bytes: &[u8], config: Config) -> Result<Self> {
        let mut wasmtime_config = wasmtime::Config::new();
        wasmtime_config.epoch_interruption(true);
        if let Some(dir) = &config.cache_dir {
            let mut cache = wasmtime::CacheConfig::new();
            cache.with_directory(dir);
            let cache = wasmtime::Cache::new(cache).map_err(|e| {
                bad_module(format!(
                    "cannot keep compiled code in `{}`: {e}",
                    dir.display()
                ))
            })?;
            wasmtime_config.cache(Some(cache));
        }
        let engine = Engine::new(&wasmtime_config)
            .map_err(|e| bad_module(format!("cannot start wasmtime: {e}")))?;
        let module = Module::new(&engine, bytes)
            .map_err(|e| bad_module(format!("is not a WebAssembly module: {e:#}")))?;
        let mut linker: Linker<State> = Linker::new(&engine);
        p1::add_to_linker_sync(&mut linker, |s| &mut s.wasi)
            .map_err(|e| bad_module(format!("cannot link WASI: {e}")))?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| bad_module(format!("imports more than WASI preview 1 gives it: {e:#}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (engine, stop) = (engine.clone(), Arc::clone(&stop));
            move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            }
        };
        std::thread::Builder::new()
            .name("mltrain-wasm-epoch".into())
            .spawn(ticker)
            .map_err(|e| bad_module(format!("cannot start the time-limit thread: {e}")))?;
        Ok(Self {
            engine,
            pre,
            config,
            stop,
            started: AtomicUsize::new(0),
        })
    }

    /// The limits every instance runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many instances [`run`](Self::run) has started.
    pub fn instances_started(&self) -> usize {
        self.started.load(Ordering::Relaxed)
    }

    /// Runs the module once, in a fresh instance, with `input` on its stdin; returns what it
    /// wrote to its stdout. `function` names the call in errors. Blocks: call it from a
    /// blocking thread.
    pub fn run(&self, function: &str, input: Vec<u8>) -> Result<Bytes> {
        self.started.fetch_add(1, Ordering::Relaxed);
        let cap = usize::try_from(self.config.memory).unwrap_or(usize::MAX);
        let stdout = MemoryOutputPipe::new(cap);
        let stderr = MemoryOutputPipe::new(STDERR_CAP);
        let wasi = WasiCtxBuilder::new()
            .stdin(MemoryInputPipe::new(input))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .arg("mltrain-guest")
            .build_p1();
        let mut store = Store::new(
            &self.engine,
            State {
                wasi,
                cap: Cap {
                    max: cap,
                    refused: false,
                },
            },
        );
        store.limiter(|s| &mut s.cap);
        let ticks = self.config.timeout.as_millis() / TICK.as_millis();
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX).max(1));

        let fault = |store: &Store<State>, e: wasmtime::Error| {
            let said = String::from_utf8_lossy(&stderr.contents())
                .trim()
                .to_string();
            let said = if said.is_empty() {
                String::new()
            } else {
                format!("; it said: {said}")
            };
            let (fault, detail) = if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                (
                    SandboxFault::Timeout,
                    format!(
                        "past its limit of {:?} (raise --wasm-timeout)",
                        self.config.timeout
                    ),
                )
            } else if store.data().cap.refused {
                (
                    SandboxFault::OutOfMemory,
                    format!(
                        "it needed more than its cap of {} MiB (raise --wasm-memory, up to 4096){said}",
                        self.config.memory >> 20
                    ),
                )
            } else {
                (SandboxFault::Trap, format!("{e:#}{said}"))
            };
            Error::Sandbox {
                function: function.to_string(),
                fault,
                detail,
            }
        };
        let instance = match self.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(e) => return Err(fault(&store, e)),
        };
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .map_err(|e| bad_module(format!("has no WASI command entry point `_start`: {e}")))?;
        if let Err(e) = start.call(&mut store, ()) {
            match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(exit) if exit.0 == 0 => {}
                // The module's allocator failing shows as an error exit, not a trap.
                Some(_) if store.data().cap.refused => return Err(fault(&store, e)),
                Some(exit) => {
                    return Err(Error::Sandbox {
                        function: function.to_string(),
                        fault: SandboxFault::Trap,
                        detail: format!(
                            "the module exited with code {}: {}",
                            exit.0,
                            String::from_utf8_lossy(&stderr.contents()).trim()
                        ),
                    });
                }
                None => return Err(fault(&store, e)),
            }
        }
        Ok(stdout.contents())
    }
}

/// The driver's WebAssembly backend: the store I/O here, each compute in its own instance.
#[derive(Debug, Clone)]
pub struct WasmFunctions {
    ctx: Ctx,
    sandbox: Arc<Sandbox>,
}

impl WasmFunctions {
    /// Calls run against `ctx`'s store, their computes in instances of `sandbox`.
    pub fn new(ctx: Ctx, sandbox: Sandbox) -> Self {
        Self {
            ctx,
            sandbox: Arc::new(sandbox),
        }
    }

    /// The store and limits the calls run with.
    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// The sandbox the calls run in.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }
}

impl Functions for WasmFunctions {
    async fn call<S: Stage>(&self, input: S::Input) -> Result<S::Output> {
        let function = S::call_name(&input);
        let sandbox = Arc::clone(&self.sandbox);
        stage::call_with::<S, _, _>(&self.ctx, input, move |env, gathered| async move {
            let name = function.clone();
            let reply = mltrain_workflow::stages::blocking(S::ID.name(), move || {
                let started = std::time::Instant::now();
                let parts = sandbox.config.validation_parts.unwrap_or_else(|| {
                    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                    cores.min(env.limits.concurrent_functions)
                });
                let call = call_of::<S>(&env, gathered)?;
                let reply = run_in_parts(&sandbox, &name, call, parts);
                tracing::debug!(function = %name, seconds = started.elapsed().as_secs_f64(), "instance finished");
                reply
            })
            .await??;
            let reply = match reply {
                Ok(reply) => reply,
                Err(refused) => return Ok(Err(refused)),
            };
            let reply = Reply::decode(&reply).map_err(|e| Error::Sandbox {
                function: function.clone(),
                fault: SandboxFault::BadModule,
                detail: format!("its reply does not follow the call ABI: {e}"),
            })?;
            reply.into_computed::<S>(&function)
        })
        .await
    }
}

/// The call a gathered job becomes: every object the compute may read, as bytes (a local
/// store's files are read here, on every core). An object not in the store is left out,
/// for the compute to name.
fn call_of<S: Stage>(env: &Env, gathered: Gathered<S::Job>) -> Result<Call> {
    let Gathered { job, keys, objects } = gathered;
    let pairs = objects.get_present(&keys)?;
    let json = |what: &str, e: serde_json::Error| Error::Task {
        stage: S::ID.name(),
        reason: format!("cannot encode the call's {what}: {e}"),
    };
    Ok(Call {
        task: Task::Stage(S::ID),
        job: serde_json::to_vec(&job).map_err(|e| json("job", e))?,
        env: serde_json::to_vec(env).map_err(|e| json("limits", e))?,
        objects: pairs,
    })
}

/// Runs `call` as `function` and returns its reply; a validation call's prediction first,
/// in up to `parts` instances side by side (`guest::validation_parts`). The inner error is
/// a part's refusal: the bad images of every part together, or the first other.
fn run_in_parts(
    sandbox: &Sandbox,
    function: &str,
    call: Call,
    parts: usize,
) -> Result<Result<Bytes>> {
    // A call the host cannot split (its test list missing or damaged) runs whole, for its
    // compute to name what is wrong as it always has.
    let Ok(Some((calls, after))) = guest::validation_parts(&call, parts) else {
        return sandbox.run(function, call.encode()).map(Ok);
    };
    let started = std::time::Instant::now();
    let run = |(i, part): (usize, Call)| {
        let name = format!("{function}-part-{i}");
        let reply = sandbox.run(&name, part.encode())?;
        Ok((name, reply))
    };
    let mut calls = calls.into_iter().enumerate();
    let first = calls.next();
    let replies: Vec<Result<(String, Bytes)>> = std::thread::scope(|scope| {
        let others: Vec<_> = calls.map(|part| scope.spawn(move || run(part))).collect();
        let mut replies: Vec<_> = first.into_iter().map(run).collect();
        replies.extend(others.into_iter().map(|h| {
            h.join().unwrap_or_else(|_| {
                Err(Error::Panic {
                    stage: "validation",
                    message: "a part's thread panicked".into(),
                })
            })
        }));
        replies
    });
    let mut predicted = Vec::with_capacity(replies.len());
    let (mut bad, mut refused) = (Vec::new(), None);
    for reply in replies {
        let (name, bytes) = reply?;
        let not_abi = |e: &dyn std::fmt::Display| Error::Sandbox {
            function: name.clone(),
            fault: SandboxFault::BadModule,
            detail: format!("its reply does not follow the call ABI: {e}"),
        };
        match Reply::decode(&bytes).map_err(|e| not_abi(&e))? {
            Reply::Done { output, .. } => predicted
                .push(serde_json::from_slice::<Predicted>(&output).map_err(|e| not_abi(&e))?),
            Reply::Refused(refusal) => match refusal.into_error(function) {
                Error::BadImages { bad: more } => bad.extend(more),
                e => {
                    refused.get_or_insert(e);
                }
            },
        }
    }
    if let Some(e) = refused {
        return Ok(Err(e));
    }
    if !bad.is_empty() {
        return Ok(Err(Error::BadImages { bad }));
    }
    let call = after.call(call, predicted, started.elapsed().as_secs_f64())?;
    sandbox.run(function, call.encode()).map(Ok)
}
