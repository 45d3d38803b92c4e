//! The `blnk-gateway` binary: everything happens in `blnk_gateway::cli`.

fn main() -> std::process::ExitCode {
    blnk_gateway::cli::main()
}
