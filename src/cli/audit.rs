//! `blnk-gateway audit verify` and `audit keygen` (see `crate::audit`, docs/audit.md).
//!
//! `verify` exit codes: 0 intact (an unsealed tail after the last checkpoint is reported, not an
//! error), 1 broken (the first broken line is printed as `file:line: how: why`: tampering, a
//! checkpoint that does not verify, or an anchor that proves records were cut or rewritten), 2
//! when a file, a public key or an anchors file cannot be read, so a script can tell tampering
//! from a wrong path. `keygen`: 0 written, 1 not (an existing file is never overwritten).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use crate::audit::verify::{read_anchors, verify, verify_sealed, Outcome, Sealed};
use crate::signing::{self, PublicKey, SigningKey};

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// Check the hash chain of audit log files, given oldest first (audit.log.2 audit.log.1
    /// audit.log), and with --public-key the signed checkpoints; exit 0 if intact, 1 at the
    /// first broken line, 2 if a file cannot be read.
    #[command(
        after_help = "Examples:\n  blnk-gateway audit verify /var/log/blnk-gateway/audit.log.1 /var/log/blnk-gateway/audit.log\n  journalctl -u blnk-gateway -o cat > journal.txt\n  blnk-gateway audit verify --public-key audit.pub --anchors journal.txt /var/log/blnk-gateway/audit.log*"
    )]
    Verify {
        /// A public key whose checkpoints are trusted (PEM or 64 hex digits); repeat it for keys
        /// used before a rotation.
        #[arg(long = "public-key", value_name = "FILE")]
        public_keys: Vec<PathBuf>,
        /// The gateway's operational log (a log file, `journalctl -u blnk-gateway` output):
        /// the checkpoints it logged prove cut or rewritten records. Needs --public-key.
        #[arg(long, value_name = "FILE", requires = "public_keys")]
        anchors: Vec<PathBuf>,
        /// The audit log files, oldest first: rotated files, then the current one.
        #[arg(required = true, value_name = "FILES")]
        files: Vec<PathBuf>,
    },
    /// Make a signing key pair for gateway.audit.signing_key_file: the secret key (mode 0600)
    /// and the public key `verify --public-key` takes. Never overwrites a file. Run it as the
    /// user the gateway runs as, so the gateway can read the secret key (and, with key_epoch,
    /// replace it: its directory must be writable by that user).
    #[command(
        after_help = "Example (the package's state directory is the service user's own):\n  sudo -u blnk-gateway blnk-gateway audit keygen --out-secret /var/lib/blnk-gateway/audit.key --out-public /var/lib/blnk-gateway/audit.pub"
    )]
    Keygen {
        /// Where to write the secret key (created with mode 0600; it must not exist): the file
        /// gateway.audit.signing_key_file names.
        #[arg(long, value_name = "FILE")]
        out_secret: PathBuf,
        /// Where to write the public key (mode 0644; it must not exist): give a copy to the
        /// auditor, off this host, for `audit verify --public-key`.
        #[arg(long, value_name = "FILE")]
        out_public: PathBuf,
    },
}

pub(super) fn run(command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Verify {
            public_keys, files, ..
        } if public_keys.is_empty() => chain_only(&files),
        AuditCommand::Verify {
            public_keys,
            anchors,
            files,
        } => sealed(&files, &public_keys, &anchors),
        AuditCommand::Keygen {
            out_secret,
            out_public,
        } => keygen(&out_secret, &out_public),
    }
}

fn chain_only(files: &[PathBuf]) -> ExitCode {
    match verify(files) {
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

fn sealed(files: &[PathBuf], key_files: &[PathBuf], anchor_files: &[PathBuf]) -> ExitCode {
    let mut keys: Vec<PublicKey> = Vec::with_capacity(key_files.len());
    for path in key_files {
        match signing::read_public_key(path) {
            Ok(k) => keys.push(k),
            Err(why) => {
                eprintln!("--public-key {}: {why}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    let anchors = if anchor_files.is_empty() {
        None
    } else {
        match read_anchors(anchor_files) {
            Ok(a) => Some(a),
            Err(e) => {
                eprintln!("--anchors {e}");
                return ExitCode::from(2);
            }
        }
    };
    match verify_sealed(files, &keys, anchors) {
        Ok(Sealed::Intact(intact, report)) => {
            println!("{intact}\n{report}");
            ExitCode::SUCCESS
        }
        Ok(Sealed::Broken(broken)) => {
            println!("{broken}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn keygen(secret: &Path, public: &Path) -> ExitCode {
    for path in [secret, public] {
        if path.exists() {
            eprintln!("{} exists; a key file is never overwritten", path.display());
            return ExitCode::from(1);
        }
    }
    let (key, pem) = match SigningKey::generate() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("cannot make a key: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = signing::create_new(secret, pem.as_bytes(), 0o600) {
        eprintln!("{}: {e}", secret.display());
        return ExitCode::from(1);
    }
    let public_pem = key.public().to_pem();
    if let Err(e) = signing::create_new(public, public_pem.as_bytes(), 0o644) {
        eprintln!("{}: {e}", public.display());
        let _ = std::fs::remove_file(secret);
        return ExitCode::from(1);
    }
    println!(
        "audit signing key {}: secret key in {} (mode 0600, for gateway.audit.signing_key_file), public key in {} (for audit verify --public-key; keep a copy off this host)",
        key.id(),
        secret.display(),
        public.display()
    );
    ExitCode::SUCCESS
}
