//! `blnk-gateway help`, `blnk-gateway completions SHELL` and `blnk-gateway manpages --dir DIR`:
//! help, shell completions and man pages made from the command line's own definition (clap,
//! clap_complete, clap_mangen), so they all say what `--help` says. The Debian package runs the
//! last two at build time.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// What the top page adds to what `--help` says: where things are, what the exit codes and the
/// environment mean. Written for the package's layout.
const MAIN_PAGE_SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
0
success
.TP
78
the configuration, the master key or a certificate cannot be used (EX_CONFIG); every problem is printed with its key path. systemd does not restart the service on 78.
.TP
1
a runtime failure, for example a listening port that is taken
.PP
\fBaudit verify\fR: 0 intact, 1 broken, 2 a file cannot be read.
.SH ENVIRONMENT
.TP
\fBBLNK_SERVER_SECRET_KEY_FILE\fR, \fBBLNK_SERVER_SECRET_KEY\fR
the master key, as Blnk reads it (a file, or the key itself); see the key order in the README
.TP
\fBBLNK_GATEWAY_\fR\fIKEY\fR
any \fBgateway\fR setting, \fB__\fR for nesting (\fBBLNK_GATEWAY_LIMITS__IDLE_TIMEOUT=30s\fR)
.TP
\fBBLNK_GATEWAY_LOG\fR
the log filter (\fBinfo\fR by default, \fBdebug\fR shows each refusal)
.TP
\fBSTATE_DIRECTORY\fR, \fBCREDENTIALS_DIRECTORY\fR
set by systemd: the idempotency store's default directory, and a \fBblnk_secret_key\fR credential
.SH FILES
.TP
\fI/etc/blnk-gateway/blnk.json\fR
the configuration (Blnk's own blnk.json may be used: the gateway reads its \fBserver\fR section)
.TP
\fI/etc/blnk-gateway/secret_key\fR
Blnk's master key, readable by the service's group
.TP
\fI/etc/blnk-gateway/tls/\fR
the certificate chain and its key
.TP
\fI/var/log/blnk-gateway/audit.log\fR
the hash-chained audit log
.TP
\fI/var/lib/blnk-gateway/idempotency.redb\fR
idempotency keys and kept answers
.TP
\fIblnk-gateway.service\fR, \fIblnk-gateway.socket\fR
the hardened systemd unit (\fBsystemctl enable \-\-now blnk-gateway\fR once \fBcheck\fR passes) and its optional socket activation
.SH "SEE ALSO"
\fBsystemd.service\fR(5), \fBsystemctl\fR(1);
/usr/share/doc/blnk-gateway/README.md
"#;

/// The help of the command `path` names in `cli`, exactly as its `--help` prints it (clap renders
/// it, and names an unknown command with the nearest known one).
pub(super) fn help(cli: clap::Command, path: &[String]) -> ExitCode {
    let argv = std::iter::once("blnk-gateway")
        .chain(path.iter().map(String::as_str))
        .chain(std::iter::once("--help"));
    match cli.try_get_matches_from(argv) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = e.print();
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
        }
    }
}

pub(super) fn completions(mut cli: clap::Command, shell: clap_complete::Shell) -> ExitCode {
    let mut out = Vec::with_capacity(64 * 1024);
    clap_complete::generate(shell, &mut cli, "blnk-gateway", &mut out);
    write_stdout(&out)
}

/// Writes `blnk-gateway.1` (with the sections above) and a page per command of `cli`
/// (`blnk-gateway-keys-new.1`, ...) into `dir`.
pub(super) fn manpages(cli: clap::Command, dir: &Path) -> ExitCode {
    match write_manpages(cli, dir) {
        Ok(n) => {
            eprintln!("wrote {n} man pages to {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}

fn write_manpages(cli: clap::Command, dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = cli.disable_help_subcommand(true);
    cmd.build();
    let mut written = 0;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        written += pages(sub.clone(), dir)?;
    }
    let man = clap_mangen::Man::new(cmd);
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    man.render_extra_section(&mut page)?;
    page.extend_from_slice(MAIN_PAGE_SECTIONS.as_bytes());
    man.render_version_section(&mut page)?;
    std::fs::write(dir.join(man.get_filename()), page)?;
    Ok(written + 1)
}

/// The page of `cmd` and of each of its subcommands.
fn pages(cmd: clap::Command, dir: &Path) -> std::io::Result<usize> {
    let mut written = 0;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        written += pages(sub.clone(), dir)?;
    }
    clap_mangen::Man::new(cmd).generate_to(dir)?;
    Ok(written + 1)
}

fn write_stdout(bytes: &[u8]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write to standard output: {e}");
            ExitCode::FAILURE
        }
    }
}
