//! `mltrain serve`: the workflow functions as an HTTP + CloudEvents service.

use anyhow::{Context, Result};
use mltrain_serve::flow::Sink;
use mltrain_serve::{AppState, Function, Runner, Secrets};
use mltrain_workflow::stages::Ctx;

use crate::cli::{Global, ServeArgs};
use crate::exit::BadInput;

pub fn serve(global: &Global, args: ServeArgs) -> Result<()> {
    let store = super::open_store(global)?;
    let backend = super::backend(args.backend, &args.http, &store, args.concurrency, None)?;
    let mut functions = if args.functions.is_empty() {
        Function::ALL.to_vec()
    } else {
        args.functions.clone()
    };
    functions.sort();
    functions.dedup();
    let sink = match &args.sink {
        Some(url) => {
            let url = url::Url::parse(url).map_err(|e| BadInput(format!("--sink `{url}`: {e}")))?;
            Some(Sink::new(url)?)
        }
        None => None,
    };
    let state = AppState {
        runner: Runner {
            ctx: Ctx::new(store.clone()),
            backend,
            concurrency: args.concurrency,
        },
        functions: functions.clone(),
        secrets: Secrets::from_env(),
        sink,
    };
    super::runtime()?.block_on(async {
        let addr = format!("{}:{}", args.host, args.port);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let names: Vec<_> = functions.iter().map(|f| f.name()).collect();
        // Scripts and tests read this line to learn the port (with --port 0).
        println!(
            "listening on http://{local} ({}) store {}",
            names.join(", "),
            store.url()
        );
        mltrain_serve::serve(listener, state).await?;
        Ok(())
    })
}
