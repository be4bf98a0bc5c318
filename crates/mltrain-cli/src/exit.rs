//! Turns an error chain into a short message on stderr and an exit code: 2 for bad usage
//! or bad input, 1 for a runtime failure.

use std::process::ExitCode;

/// A mistake in the command line or its inputs that no library error type covers.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// A run stopped by Ctrl-C (SIGINT); the message says how to finish it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

/// The exit code of a process ended by SIGINT, as shells report it.
const INTERRUPTED: u8 = 130;

pub fn report(err: &anyhow::Error) -> ExitCode {
    if let Some(Interrupted(message)) = err.downcast_ref::<Interrupted>() {
        eprintln!("{message}");
        return ExitCode::from(INTERRUPTED);
    }
    // `mltrain ... | head` closing the pipe early is not a failure worth a message.
    let broken_pipe = err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    let mut chain = err.chain();
    if let Some(top) = chain.next() {
        eprintln!("error: {top}");
    }
    for cause in chain {
        eprintln!("  caused by: {cause}");
    }
    ExitCode::from(code(err))
}

fn code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<BadInput>() {
            return 2;
        }
        if let Some(e) = cause.downcast_ref::<mltrain_serve::Error>() {
            return if e.is_bad_input() { 2 } else { 1 };
        }
        if let Some(e) = cause.downcast_ref::<mltrain_workflow::Error>() {
            return if e.is_bad_input() { 2 } else { 1 };
        }
        if let Some(e) = cause.downcast_ref::<mltrain_store::Error>() {
            return match e {
                mltrain_store::Error::InvalidUrl { .. }
                | mltrain_store::Error::InvalidKey { .. }
                | mltrain_store::Error::NotFound { .. }
                | mltrain_store::Error::NoBucket { .. }
                | mltrain_store::Error::Pack { .. }
                | mltrain_store::Error::Repack { .. }
                | mltrain_store::Error::Io { .. } => 2,
                _ => 1,
            };
        }
        if let Some(e) = cause.downcast_ref::<mltrain_dataset::Error>() {
            return match e {
                mltrain_dataset::Error::Io { .. } => 1,
                _ => 2,
            };
        }
        if cause.is::<mltrain_core::Error>() {
            return 2;
        }
    }
    1
}
