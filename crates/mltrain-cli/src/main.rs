//! `mltrain`: the ml-training workflow on one machine, over an object store.

mod cli;
mod commands;
mod exit;
mod progress;

use clap::{CommandFactory, FromArgMatches};

fn main() -> std::process::ExitCode {
    // Library crates log through `tracing` (a service's calls, a job's event); the binary
    // decides where that goes: stderr, without colour codes when it is not a terminal.
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let matches = cli::Cli::command().get_matches();
    let mut cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let (cli::Command::Run(args), Some(("run", run))) = (&mut cli.command, matches.subcommand())
    {
        args.given = given_on_command_line(run);
    }
    match commands::dispatch(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => exit::report(&err),
    }
}

/// The ids of the arguments typed on the command line, not defaulted or from the environment.
fn given_on_command_line(matches: &clap::ArgMatches) -> Vec<String> {
    matches
        .ids()
        .filter(|id| {
            matches!(
                matches.value_source(id.as_str()),
                Some(clap::parser::ValueSource::CommandLine)
            )
        })
        .map(|id| id.as_str().to_string())
        .collect()
}
