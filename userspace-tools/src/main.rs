//! `drbdadm-rs`: administration of drbd_rs (and DRBD 8.4) resources.
//!
//! The command set grows with the module (see Documentation/); today it reports versions.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use drbd_core::proc_text::parse_release;
use drbd_core::version;

const PROC_DRBD: &str = "/proc/drbd";

#[derive(Parser)]
#[command(
    name = "drbdadm-rs",
    version,
    about = "Administer drbd_rs / DRBD 8.4 resources"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the tool's and the loaded kernel module's DRBD versions.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => show_version(),
    }
}

fn show_version() -> ExitCode {
    println!(
        "DRBDADM_RS_VERSION={}\nDRBD_API={}\nDRBD_PROTOCOLS={}-{}",
        version::RELEASE,
        version::GENL_API_VERSION,
        version::PROTOCOL_MIN,
        version::PROTOCOL_MAX
    );
    match std::fs::read_to_string(PROC_DRBD) {
        Ok(text) => match parse_release(&text) {
            Some(r) => {
                println!("DRBD_KERNEL_VERSION={}.{}.{}", r.major, r.minor, r.sub);
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("{PROC_DRBD}: no 'version:' line; is this a DRBD module?");
                ExitCode::from(20)
            }
        },
        Err(e) => {
            eprintln!("{PROC_DRBD}: {e}; load the module first (insmod drbd_rs.ko)");
            ExitCode::from(20)
        }
    }
}
