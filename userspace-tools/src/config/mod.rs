//! drbd.conf (DRBD 8.4 syntax, with the 8.3 and 0.7 forms people still have) for drbdadm-rs.
//!
//! ```
//! use drbd_rs_tools::config;
//!
//! let text = r#"
//!     global { usage-count no; }
//!     common { net { protocol C; } disk { resync-rate 40M; } }
//!     resource r0 {
//!       on alice { device /dev/drbd0; disk /dev/sdb1; address 10.0.0.1:7789; meta-disk internal; }
//!       on bob   { device /dev/drbd0; disk /dev/sdb1; address 10.0.0.2:7789; meta-disk internal; }
//!     }
//! "#;
//! let cfg = config::parse_str(text, "drbd.conf").unwrap();
//! let view = cfg.host_view("r0", "alice").unwrap();
//! assert_eq!(view.volumes[0].device.minor, 0);
//! assert_eq!(view.volumes[0].disk_options.number("resync-rate"), Some(40 * 1024));
//! assert_eq!(view.peer().unwrap().address.to_arg(), "ipv4:10.0.0.2:7789");
//! assert_eq!(config::parse_str(&config::dump(&cfg), "dump").unwrap(), cfg);
//! ```
//!
//! * [`load`] / [`parse_str`] read a configuration (following `include`s) into a [`Config`];
//!   errors are [`ConfigError`]s that name `file:line` and say what to write instead;
//!   accepted-but-questionable input is listed in [`Config::warnings`].
//! * [`Config::host_view`] selects this node's `on` section and computes the effective
//!   options (`common` < resource < volume) as [`OptionList`]s of normalized values (numbers
//!   in the option's unit, see [`options::OPTIONS`]).
//! * [`dump`] renders the configuration back as 8.4 text.

mod dump;
pub mod error;
mod glob;
pub mod lexer;
pub mod model;
mod normalize;
pub mod options;
mod parser;
pub mod units;
mod view;

use std::path::{Path, PathBuf};

pub use dump::dump;
pub use error::{ConfigError, ErrorKind, Location, Origin, Warning};
pub use model::{
    Address, AddressFamily, Config, Device, Global, Host, HostKind, MetaDisk, Protocol, Resource,
    Sections, UsageCount, Volume,
};
pub use options::{OptionEntry, OptionKind, OptionList, OptionSpec, SectionKind, Value};
pub use parser::{Legacy, ParseOptions, MAX_FILE_SIZE, MAX_INCLUDE_DEPTH};
pub use view::{effective_number, HostView, VolumeView};

/// Where drbdadm-84 looks for its configuration, in order (spec §1).
pub const CONFIG_SEARCH_PATH: [&str; 5] = [
    "/etc/drbd-84.conf",
    "/etc/drbd-83.conf",
    "/etc/drbd-82.conf",
    "/etc/drbd-08.conf",
    "/etc/drbd.conf",
];

/// The first existing file of [`CONFIG_SEARCH_PATH`].
pub fn find_config_file() -> Option<PathBuf> {
    CONFIG_SEARCH_PATH
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Read and parse the configuration file at `path`, following `include` statements
/// (patterns relative to the including file's directory).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, &ParseOptions::default())
}

/// [`load`] with explicit [`ParseOptions`].
pub fn load_with(path: &Path, options: &ParseOptions) -> Result<Config, ConfigError> {
    let text = parser::read_file(path, None)?;
    let dir = path.parent().unwrap_or_else(|| Path::new(""));
    parser::parse(&text, &path.display().to_string(), dir, options)
}

/// Parse configuration text. `origin` names it in messages; relative `include` patterns are
/// resolved against `origin`'s directory (the current directory for a bare file name).
pub fn parse_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    parse_str_with(text, origin, &ParseOptions::default())
}

/// [`parse_str`] with explicit [`ParseOptions`].
pub fn parse_str_with(
    text: &str,
    origin: &str,
    options: &ParseOptions,
) -> Result<Config, ConfigError> {
    let dir = Path::new(origin).parent().unwrap_or_else(|| Path::new(""));
    parser::parse(text, origin, dir, options)
}

/// Parse configuration bytes (UTF-8, else Latin-1), like [`parse_str`].
pub fn parse_bytes(bytes: &[u8], origin: &str) -> Result<Config, ConfigError> {
    let text = parser::bytes_to_text(bytes.to_vec());
    parse_str(&text, origin)
}
