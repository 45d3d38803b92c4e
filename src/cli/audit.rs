//! `blnk-gateway audit verify FILE...`: checks an audit log's hash chain (see `crate::audit`).
//!
//! Exit codes: 0 intact, 1 broken (the first broken line is printed as `file:line: how: why`),
//! 2 when a file cannot be read, so a script can tell tampering from a wrong path.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::audit::verify::{verify, Outcome};

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// Check the hash chain of audit log files, given oldest first (audit.log.2 audit.log.1
    /// audit.log); exit 0 if intact, 1 at the first broken line, 2 if a file cannot be read.
    Verify {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub(super) fn run(command: AuditCommand) -> ExitCode {
    let AuditCommand::Verify { files } = command;
    match verify(&files) {
        Ok(Outcome::Intact(intact)) => {
            println!("{intact}");
            ExitCode::SUCCESS
        }
        Ok(Outcome::Broken(broken)) => {
            println!("{broken}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
