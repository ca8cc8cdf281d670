//! The `chiffon` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    chiffon::cli::main()
}
