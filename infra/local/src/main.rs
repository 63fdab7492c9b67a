//! `retail-local`: see the library for what it does.

fn main() -> std::process::ExitCode {
    retail_local::cli::main()
}
