//! What the admin tool asks of the kernel: DRBD 8.4 generic-netlink requests, and the
//! result codes turned into the messages drbdsetup prints.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use drbd_core::genl::addr::{SockAddr, AF_INET, AF_INET_SDP, SOCKADDR_IN6_LEN};
use drbd_core::genl::commands::Command;
use drbd_core::genl::msg::{Message, MINOR_NONE};
use drbd_core::genl::ret_code::{ReplyCode, RetCode};
use drbd_core::genl::sets::{self, sib_reason, FieldType, SetDef};
use drbd_core::genl::typed::{
    CfgContext, DetachParms, DisconnectParms, DiskConf, FieldValues, NetConf, NewCUuidParms,
    ResOpts, ResizeParms, SetEncode, SetRoleParms, StartOvParms, StateInfo, TimeoutParms,
};
use drbd_core::genl::validate::{validate_set, ValidateOpts};
use drbd_core::genl::value::Value;
use drbd_core::state::{ConnState, State, StateError};

use crate::config::model::{Address, AddressFamily};
use crate::config::options::{OptionEntry, OptionList, Value as OptValue};
use crate::netlink::{DrbdGenl, Events, NlError, Reply, RequestOptions};

/// A failed admin step, with the exit status drbdadm uses for it.
#[derive(Debug)]
pub enum AdminError {
    /// Talking to the kernel failed (module not loaded, no permission, ...): exit 20.
    Netlink(NlError),
    /// The kernel refused a state change (`SS_*`): exit 11.
    StateChange {
        /// Minor (or resource) the request was about.
        object: String,
        /// The refusal.
        code: i32,
        /// The kernel's detail, if any.
        info: Option<String>,
    },
    /// The kernel answered with a `drbd_ret_code` error: exit 10.
    Failure {
        /// Minor (or resource) the request was about.
        object: String,
        /// The code.
        code: i32,
        /// The kernel's detail, if any.
        info: Option<String>,
    },
    /// A config option the kernel does not take, or an address it cannot be given.
    BadOption(String),
}

impl AdminError {
    /// Exit status for this error (drbdsetup-84's conventions: a few state-change results
    /// have their own status, config-and-tools.md §4.1).
    pub fn exit_code(&self) -> u8 {
        match self {
            AdminError::Netlink(_) => 20,
            AdminError::StateChange { code, .. } => match StateError::from_code(*code) {
                Some(StateError::LowerThanOutdated) => 5,
                Some(StateError::NoLocalDisk) => 16,
                Some(StateError::NoUpToDateDisk) => 17,
                _ => 11,
            },
            AdminError::Failure { .. } | AdminError::BadOption(_) => 10,
        }
    }
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let info = |f: &mut std::fmt::Formatter<'_>, info: &Option<String>| match info {
            Some(text) if !text.is_empty() => write!(f, "\nadditional info from kernel:\n{text}"),
            _ => Ok(()),
        };
        match self {
            AdminError::Netlink(e) => write!(f, "{e}"),
            AdminError::StateChange {
                object,
                code,
                info: i,
            } => {
                let text = StateError::from_code(*code)
                    .map_or("unknown state change error", |e| e.message());
                write!(f, "{object}: State change failed: ({code}) {text}")?;
                info(f, i)
            }
            AdminError::Failure {
                object,
                code,
                info: i,
            } => {
                let text = RetCode::from_code(*code).map_or("unknown error", |r| r.message());
                write!(f, "{object}: Failure: ({code}) {text}")?;
                info(f, i)
            }
            AdminError::BadOption(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AdminError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_change(code: i32) -> AdminError {
        AdminError::StateChange {
            object: "0".into(),
            code,
            info: None,
        }
    }

    #[test]
    fn state_change_exit_codes_are_drbdsetups() {
        // config-and-tools.md §4.1: 5, 16 and 17 for three results, 11 for the others.
        assert_eq!(state_change(-16).exit_code(), 5);
        assert_eq!(state_change(-4).exit_code(), 16);
        assert_eq!(state_change(-2).exit_code(), 17);
        for code in [0, -1, -8, -10, -15, -19] {
            assert_eq!(state_change(code).exit_code(), 11, "{code}");
        }
        assert_eq!(
            state_change(-2).to_string(),
            "0: State change failed: (-2) Need access to UpToDate data"
        );
        let pause_set = AdminError::Failure {
            object: "0".into(),
            code: RetCode::ErrPauseIsSet.code(),
            info: None,
        };
        assert_eq!(pause_set.exit_code(), 10);
        assert_eq!(
            pause_set.to_string(),
            "0: Failure: (134) Sync-pause flag is already set"
        );
    }

    #[test]
    fn an_option_given_twice_is_sent_once_the_last() {
        let cfg = crate::config::parse_str(
            "resource r0 { net { max-buffers 2k; ko-count 3; max-buffers 4k; }
               on a { device minor 0; disk /dev/a; meta-disk internal; address 10.0.0.1:1; }
               on b { device minor 0; disk /dev/a; meta-disk internal; address 10.0.0.2:1; } }",
            "t.conf",
        )
        .unwrap();
        let view = cfg.host_view("r0", "a").unwrap();
        assert_eq!(view.net.len(), 3, "both kept, as drbdadm-84 passes both on");
        let values = net_conf_values(&view.net, ConnectFlags::default()).unwrap();
        let field = |name: &str| sets::NET_CONF.field_by_option(name).unwrap().id;
        assert_eq!(
            values,
            vec![
                (field("ko-count"), OwnedValue::U32(3)),
                (field("max-buffers"), OwnedValue::U32(4096)),
            ]
        );
    }

    #[test]
    fn verify_sends_only_the_sectors_given() {
        assert_eq!(start_ov_values(None, None), vec![]);
        assert_eq!(
            start_ov_values(Some(8), None),
            vec![(1, OwnedValue::U64(8))]
        );
        assert_eq!(
            start_ov_values(None, Some(100)),
            vec![(2, OwnedValue::U64(100))]
        );
    }
}

impl From<NlError> for AdminError {
    fn from(e: NlError) -> Self {
        AdminError::Netlink(e)
    }
}

/// One configured minor as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinorStatus {
    /// Resource name.
    pub resource: String,
    /// Volume number.
    pub volume: u32,
    /// Minor number.
    pub minor: u32,
    /// The state.
    pub state: State,
    /// Size in sectors.
    pub capacity: u64,
    /// Bitmap bits (4 KiB each); 0 without a disk.
    pub bits_total: u64,
    /// Bits set (out of sync); 0 without a disk.
    pub bits_oos: u64,
    /// Bits of the running resync, if the kernel says.
    pub bits_rs_total: Option<u64>,
    /// Bits that failed to resync.
    pub bits_rs_failed: u64,
    /// Current, bitmap, history 1 and 2 UUIDs (with a disk).
    pub uuids: Option<[u64; 4]>,
    /// The meta data's `MDF_*` flags (with a disk).
    pub disk_flags: Option<u32>,
}

impl MinorStatus {
    /// Out-of-sync data in KiB (what /proc/drbd shows as `oos:`).
    pub fn oos_kib(&self) -> u64 {
        self.bits_oos.saturating_mul(4)
    }

    /// Percent of the device in sync while a resync runs (drbdsetup's `done:`), else `None`.
    pub fn sync_done(&self) -> Option<f64> {
        let syncing = (ConnState::SyncSource..=ConnState::PausedSyncT).contains(&self.state.conn)
            && !matches!(self.state.conn, ConnState::VerifyS | ConnState::VerifyT);
        (syncing && self.bits_total > 0)
            .then(|| 100.0 * (1.0 - self.bits_oos as f64 / self.bits_total as f64))
    }
}

/// One-shot flags of `connect` (never in drbd.conf).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectFlags {
    /// `--discard-my-data`: this node is the split-brain victim.
    pub discard_my_data: bool,
    /// `--tentative` (old name `--dry-run`): only report what the handshake would do.
    pub tentative: bool,
}

/// The two ends of a connection, as `ctx_my_addr` / `ctx_peer_addr` carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// This node's address.
    pub my: SockAddr,
    /// The peer's address.
    pub peer: SockAddr,
    /// The local address as drbdsetup names the connection in messages
    /// (`ipv4:10.0.0.1:7789`).
    pub label: String,
}

impl Endpoints {
    /// The endpoints of a configured connection.
    pub fn from_config(my: &Address, peer: &Address) -> Result<Self, AdminError> {
        Ok(Self {
            my: sockaddr(my)?,
            peer: sockaddr(peer)?,
            label: my.to_arg(),
        })
    }
}

/// What [`Kernel::wait_connect`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The device reached Connected (or a later state: sync, verify, Ahead/Behind).
    Connected(State),
    /// The device is StandAlone (or Disconnecting): it will not connect by itself, so
    /// waiting ends, as in drbdsetup-84 without `--wait-after-sb`.
    StandAlone(State),
    /// The timeout passed; the last state seen.
    TimedOut(State),
}

/// The address family number drbdsetup-84 uses for `ssocks:` addresses: the one the
/// ssocks module announces, else 27.
fn ssocks_family() -> u16 {
    ["/proc/net/af_ssocks/family", "/proc/net/af_sci/family"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok()?.trim().parse().ok())
        .unwrap_or(27)
}

/// The interface index of an IPv6 scope (`%eth0` or `%2`).
fn scope_id(scope: &str) -> Result<u32, AdminError> {
    if let Ok(n) = scope.parse() {
        return Ok(n);
    }
    std::fs::read_to_string(format!("/sys/class/net/{scope}/ifindex"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| AdminError::BadOption(format!("unknown network interface '{scope}'")))
}

/// A config address as drbdsetup-84 puts it into `ctx_my_addr` / `ctx_peer_addr`: a
/// `sockaddr_in6` for `ipv6`, a `sockaddr_in` (with the family number) for everything else.
pub fn sockaddr(a: &Address) -> Result<SockAddr, AdminError> {
    match (a.family, a.ip) {
        (AddressFamily::Ipv6, IpAddr::V6(ip)) => Ok(SockAddr::V6 {
            addr: ip.octets(),
            port: a.port,
            flowinfo: 0,
            scope_id: a.scope.as_deref().map_or(Ok(0), scope_id)?,
        }),
        (
            family @ (AddressFamily::Ipv4 | AddressFamily::Sdp | AddressFamily::Ssocks),
            IpAddr::V4(ip),
        ) => Ok(SockAddr::V4 {
            family: match family {
                AddressFamily::Sdp => AF_INET_SDP,
                AddressFamily::Ssocks => ssocks_family(),
                _ => AF_INET,
            },
            addr: ip.octets(),
            port: a.port,
        }),
        _ => Err(AdminError::BadOption(format!(
            "address {}: family and address do not match",
            a.to_arg()
        ))),
    }
}

/// The `net_conf` fields for `connect` / `net-options`: the config's `net { }` options (by
/// their drbdsetup names, protocol included) and the one-shot connect flags.
pub fn net_conf_values(
    options: &OptionList,
    flags: ConnectFlags,
) -> Result<Vec<(u16, OwnedValue)>, AdminError> {
    // discard_my_data (25) and tentative (28) never come from the config.
    let mut values = option_values(&sets::NET_CONF, options, &[25, 28])?;
    if flags.discard_my_data {
        values.push((25, OwnedValue::Flag(true)));
    }
    if flags.tentative {
        values.push((28, OwnedValue::Flag(true)));
    }
    Ok(values)
}

/// The `disk_conf` fields for `attach`: the three positional arguments, then the config's
/// `disk { }` options (`resync-rate`, 8.3's `syncer { rate }`, ...).
pub fn attach_values(
    lower: &str,
    meta: &str,
    meta_index: i32,
    options: &OptionList,
) -> Result<Vec<(u16, OwnedValue)>, AdminError> {
    let mut values = vec![
        (1, OwnedValue::Str(lower.as_bytes().to_vec())),
        (2, OwnedValue::Str(meta.as_bytes().to_vec())),
        (3, OwnedValue::S32(meta_index)),
    ];
    values.extend(option_values(&sets::DISK_CONF, options, &[1, 2, 3])?);
    Ok(values)
}

/// The `new_c_uuid_parms` fields of `new-current-uuid`: `--clear-bitmap` (drbdsetup sends
/// the flag only when given).
pub fn new_c_uuid_values(clear_bitmap: bool) -> Vec<(u16, OwnedValue)> {
    if clear_bitmap {
        vec![(1, OwnedValue::Flag(true))]
    } else {
        Vec::new()
    }
}

/// The `start_ov_parms` fields of `verify [--start=S] [--stop=S]` (sectors; drbdsetup sends
/// only the options given).
pub fn start_ov_values(start: Option<u64>, stop: Option<u64>) -> Vec<(u16, OwnedValue)> {
    let mut values = Vec::new();
    if let Some(sector) = start {
        values.push((1, OwnedValue::U64(sector)));
    }
    if let Some(sector) = stop {
        values.push((2, OwnedValue::U64(sector)));
    }
    values
}

/// Borrowed values for encoding.
fn encode_values(owned: &[(u16, OwnedValue)]) -> Vec<(u16, Value<'_>)> {
    owned.iter().map(|(id, v)| (*id, v.as_value())).collect()
}

/// The kernel side of DRBD, through generic netlink.
pub struct Kernel {
    nl: DrbdGenl,
}

impl Kernel {
    /// Connect to the `drbd` family.
    pub fn open() -> Result<Self, AdminError> {
        Ok(Self {
            nl: DrbdGenl::open()?,
        })
    }

    fn call(
        &mut self,
        cmd: Command,
        minor: u32,
        object: &str,
        sets: &[&dyn SetEncode],
    ) -> Result<Reply, AdminError> {
        let reply = self.nl.request(cmd, minor, sets, 0)?;
        check(&reply, object)?;
        Ok(reply)
    }

    /// A request naming only a minor, with nothing to send and nothing to read back.
    fn minor_command(&mut self, cmd: Command, minor: u32) -> Result<(), AdminError> {
        self.call(cmd, minor, &minor.to_string(), &[]).map(drop)
    }

    /// `new-resource NAME [resource options]` (an existing resource is fine).
    pub fn new_resource(&mut self, name: &str, options: &OptionList) -> Result<(), AdminError> {
        let ctx = context(name, None);
        let owned = option_values(&sets::RES_OPTS, options, &[])?;
        let values = encode_values(&owned);
        let opts = FieldValues {
            set: ResOpts::DEF,
            values: &values,
        };
        // drbdsetup sends the options set only when there are options.
        if values.is_empty() {
            self.call(Command::NewResource, MINOR_NONE, name, &[&ctx])
        } else {
            self.call(Command::NewResource, MINOR_NONE, name, &[&ctx, &opts])
        }
        .map(drop)
    }

    /// `connect NAME LOCAL PEER [net options] [--discard-my-data] [--tentative]`; `net` is
    /// what [`net_conf_values`] gives.
    pub fn connect(
        &mut self,
        name: &str,
        ends: &Endpoints,
        net: &[(u16, OwnedValue)],
    ) -> Result<(), AdminError> {
        let (mut my, mut peer) = ([0u8; SOCKADDR_IN6_LEN], [0u8; SOCKADDR_IN6_LEN]);
        let ctx = CfgContext {
            ctx_resource_name: Some(name.as_bytes()),
            ..connection_context(ends, &mut my, &mut peer)?
        };
        let values = encode_values(net);
        let conf = FieldValues {
            set: NetConf::DEF,
            values: &values,
        };
        if values.is_empty() {
            self.call(Command::Connect, MINOR_NONE, name, &[&ctx])
        } else {
            self.call(Command::Connect, MINOR_NONE, name, &[&ctx, &conf])
        }
        .map(drop)
    }

    /// `net-options LOCAL PEER [--set-defaults] [net options]`.
    pub fn net_options(
        &mut self,
        ends: &Endpoints,
        net: &[(u16, OwnedValue)],
        set_defaults: bool,
    ) -> Result<(), AdminError> {
        let (mut my, mut peer) = ([0u8; SOCKADDR_IN6_LEN], [0u8; SOCKADDR_IN6_LEN]);
        let ctx = connection_context(ends, &mut my, &mut peer)?;
        let values = encode_values(net);
        let conf = FieldValues {
            set: NetConf::DEF,
            values: &values,
        };
        let opts = RequestOptions {
            nl_flags: 0,
            set_defaults,
        };
        let reply = if values.is_empty() {
            self.nl
                .request_with(Command::ChgNetOpts, MINOR_NONE, &[&ctx], opts)
        } else {
            self.nl
                .request_with(Command::ChgNetOpts, MINOR_NONE, &[&ctx, &conf], opts)
        }?;
        check(&reply, &ends.label)
    }

    /// `disconnect LOCAL PEER [--force]`.
    pub fn disconnect(&mut self, ends: &Endpoints, force: bool) -> Result<(), AdminError> {
        let (mut my, mut peer) = ([0u8; SOCKADDR_IN6_LEN], [0u8; SOCKADDR_IN6_LEN]);
        let ctx = connection_context(ends, &mut my, &mut peer)?;
        let parms = DisconnectParms {
            force_disconnect: Some(true),
        };
        if force {
            self.call(
                Command::Disconnect,
                MINOR_NONE,
                &ends.label,
                &[&ctx, &parms],
            )
        } else {
            self.call(Command::Disconnect, MINOR_NONE, &ends.label, &[&ctx])
        }
        .map(drop)
    }

    /// Which wfc timeout applies to `minor` (`sets::timeout_type::*`): degraded after a
    /// crash as degraded Primary, peer outdated, or the default.
    pub fn timeout_type(&mut self, minor: u32) -> Result<u32, AdminError> {
        let reply = self.call(Command::GetTimeoutType, minor, &minor.to_string(), &[])?;
        let msg = reply
            .message()
            .ok_or_else(|| NlError::Malformed("timeout type reply".into()))?;
        TimeoutParms::from_message(&msg, &ValidateOpts::LENIENT)
            .ok()
            .flatten()
            .and_then(|p| p.timeout_type)
            .ok_or_else(|| {
                AdminError::Netlink(NlError::Malformed(
                    "timeout type reply without timeout_parms".into(),
                ))
            })
    }

    /// Wait until `minor` is Connected (or syncing, verifying, Ahead/Behind) or StandAlone,
    /// at most `timeout` (`None`: forever). Follows the kernel's state-change events, and
    /// re-reads the state every second so that a lost event only delays the answer.
    pub fn wait_connect(
        &mut self,
        minor: u32,
        timeout: Option<Duration>,
    ) -> Result<WaitOutcome, AdminError> {
        // Subscribe before reading the state, so that no change falls in between.
        let mut events = self.nl.subscribe_events()?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut state = self.current_state(minor)?;
        loop {
            if state.conn >= ConnState::Connected {
                return Ok(WaitOutcome::Connected(state));
            }
            if state.conn < ConnState::Unconnected {
                return Ok(WaitOutcome::StandAlone(state));
            }
            let slice = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(WaitOutcome::TimedOut(state));
                    }
                    left.min(Duration::from_secs(1))
                }
                None => Duration::from_secs(1),
            };
            state = match next_state_event(&mut events, minor, slice) {
                Ok(Some(s)) => s,
                // Quiet for a second, or events were lost: ask.
                Ok(None) | Err(NlError::Overrun) => self.current_state(minor)?,
                Err(e) => return Err(e.into()),
            };
        }
    }

    fn current_state(&mut self, minor: u32) -> Result<State, AdminError> {
        match self.status(minor)? {
            Some(s) => Ok(s.state),
            None => Err(AdminError::Failure {
                object: minor.to_string(),
                code: RetCode::ErrMinorInvalid.code(),
                info: None,
            }),
        }
    }

    /// `resource-options NAME [--set-defaults] [resource options]`.
    pub fn resource_options(
        &mut self,
        name: &str,
        options: &OptionList,
        set_defaults: bool,
    ) -> Result<(), AdminError> {
        let ctx = context(name, None);
        let owned = option_values(&sets::RES_OPTS, options, &[])?;
        let values = encode_values(&owned);
        let opts = FieldValues {
            set: ResOpts::DEF,
            values: &values,
        };
        let flags = RequestOptions {
            nl_flags: 0,
            set_defaults,
        };
        let reply =
            self.nl
                .request_with(Command::ResourceOpts, MINOR_NONE, &[&ctx, &opts], flags)?;
        check(&reply, name)
    }

    /// `disk-options MINOR [--set-defaults] [disk options]` (the attach-only `disk`,
    /// `meta-disk` never go with it).
    pub fn disk_options(
        &mut self,
        minor: u32,
        options: &OptionList,
        set_defaults: bool,
    ) -> Result<(), AdminError> {
        let owned = option_values(&sets::DISK_CONF, options, &[1, 2, 3])?;
        let values = encode_values(&owned);
        let conf = FieldValues {
            set: DiskConf::DEF,
            values: &values,
        };
        let flags = RequestOptions {
            nl_flags: 0,
            set_defaults,
        };
        let reply = self
            .nl
            .request_with(Command::ChgDiskOpts, minor, &[&conf], flags)?;
        check(&reply, &minor.to_string())
    }

    /// `del-minor MINOR` (only a minor without disk and net config).
    pub fn del_minor(&mut self, minor: u32) -> Result<(), AdminError> {
        self.minor_command(Command::DelMinor, minor)
    }

    /// The running configuration of resource `name`, as `drbdsetup-84 show` reads it (the
    /// GET_STATUS dump of the resource); `None` when the kernel does not know it.
    pub fn running(&mut self, name: &str) -> Result<Option<Running>, AdminError> {
        let ctx = context(name, None);
        let replies = self.nl.dump(Command::GetStatus, MINOR_NONE, &[&ctx])?;
        Ok(running_from(replies.iter().filter_map(|r| r.message())))
    }

    /// `new-minor NAME MINOR VOLUME` (an identical existing one is fine).
    pub fn new_minor(&mut self, name: &str, minor: u32, volume: u32) -> Result<(), AdminError> {
        let ctx = context(name, Some(volume));
        self.call(Command::NewMinor, minor, &minor.to_string(), &[&ctx])
            .map(drop)
    }

    /// `attach MINOR LOWER META INDEX [disk options]`.
    pub fn attach(
        &mut self,
        minor: u32,
        lower: &str,
        meta: &str,
        meta_index: i32,
        options: &OptionList,
    ) -> Result<(), AdminError> {
        let owned = attach_values(lower, meta, meta_index, options)?;
        let values = encode_values(&owned);
        let conf = FieldValues {
            set: DiskConf::DEF,
            values: &values,
        };
        self.call(Command::Attach, minor, &minor.to_string(), &[&conf])
            .map(drop)
    }

    /// `primary MINOR [--force]`.
    pub fn primary(&mut self, minor: u32, force: bool) -> Result<(), AdminError> {
        let parms = SetRoleParms {
            assume_uptodate: force.then_some(true),
        };
        self.call(Command::Primary, minor, &minor.to_string(), &[&parms])
            .map(drop)
    }

    /// `resize MINOR [--size S] [--assume-peer-has-space] [--assume-clean]` (size in sectors,
    /// 0 = as large as possible).
    pub fn resize(
        &mut self,
        minor: u32,
        size: u64,
        assume_peer_has_space: bool,
        assume_clean: bool,
    ) -> Result<(), AdminError> {
        let parms = ResizeParms {
            resize_size: Some(size),
            resize_force: assume_peer_has_space.then_some(true),
            no_resync: assume_clean.then_some(true),
            ..ResizeParms::default()
        };
        self.call(Command::Resize, minor, &minor.to_string(), &[&parms])
            .map(drop)
    }

    /// `secondary MINOR`.
    pub fn secondary(&mut self, minor: u32) -> Result<(), AdminError> {
        self.minor_command(Command::Secondary, minor)
    }

    /// `new-current-uuid MINOR [--clear-bitmap]`: a new data generation; with
    /// `--clear-bitmap` on a connected pair of fresh meta data, the initial sync is skipped.
    pub fn new_current_uuid(&mut self, minor: u32, clear_bitmap: bool) -> Result<(), AdminError> {
        let owned = new_c_uuid_values(clear_bitmap);
        let values = encode_values(&owned);
        let parms = FieldValues {
            set: NewCUuidParms::DEF,
            values: &values,
        };
        self.call(Command::NewCUuid, minor, &minor.to_string(), &[&parms])
            .map(drop)
    }

    /// `invalidate MINOR`: this node's disk becomes the target of a full sync (StandAlone:
    /// Inconsistent with every bit set, synced at the next connect).
    pub fn invalidate(&mut self, minor: u32) -> Result<(), AdminError> {
        self.minor_command(Command::Invalidate, minor)
    }

    /// `invalidate-remote MINOR`: the peer's disk becomes the target of a full sync.
    pub fn invalidate_remote(&mut self, minor: u32) -> Result<(), AdminError> {
        self.minor_command(Command::InvalPeer, minor)
    }

    /// `pause-sync MINOR`: set the user's pause flag (`ERR_PAUSE_IS_SET` if it is set).
    pub fn pause_sync(&mut self, minor: u32) -> Result<(), AdminError> {
        self.minor_command(Command::PauseSync, minor)
    }

    /// `resume-sync MINOR`: clear the user's pause flag (`ERR_PAUSE_IS_CLEAR`, or
    /// `ERR_PIC_AFTER_DEP` / `ERR_PIC_PEER_DEP` when another pause holds the resync).
    pub fn resume_sync(&mut self, minor: u32) -> Result<(), AdminError> {
        self.minor_command(Command::ResumeSync, minor)
    }

    /// `outdate MINOR`: the disk becomes Outdated (refused while Primary; while Connected the
    /// state rules keep it UpToDate).
    pub fn outdate(&mut self, minor: u32) -> Result<(), AdminError> {
        self.minor_command(Command::Outdate, minor)
    }

    /// `suspend-io MINOR`: hold new application I/O.
    pub fn suspend_io(&mut self, minor: u32) -> Result<(), AdminError> {
        self.minor_command(Command::SuspendIo, minor)
    }

    /// `resume-io MINOR`: let held application I/O go on.
    pub fn resume_io(&mut self, minor: u32) -> Result<(), AdminError> {
        self.minor_command(Command::ResumeIo, minor)
    }

    /// `verify MINOR [--start=S] [--stop=S]`: start online verify (sectors); `values` is what
    /// [`start_ov_values`] gives.
    pub fn verify(&mut self, minor: u32, values: &[(u16, OwnedValue)]) -> Result<(), AdminError> {
        let values = encode_values(values);
        let parms = FieldValues {
            set: StartOvParms::DEF,
            values: &values,
        };
        self.call(Command::StartOv, minor, &minor.to_string(), &[&parms])
            .map(drop)
    }

    /// `detach MINOR [--force]` (`--force`: without waiting for pending I/O).
    pub fn detach(&mut self, minor: u32, force: bool) -> Result<(), AdminError> {
        let parms = DetachParms {
            force_detach: Some(true),
        };
        if force {
            self.call(Command::Detach, minor, &minor.to_string(), &[&parms])
        } else {
            self.call(Command::Detach, minor, &minor.to_string(), &[])
        }
        .map(drop)
    }

    /// `down NAME`: every volume to Secondary, detached, removed; then the resource.
    pub fn down(&mut self, name: &str) -> Result<(), AdminError> {
        let ctx = context(name, None);
        match self.call(Command::Down, MINOR_NONE, name, &[&ctx]) {
            // Already gone is what `down` wants.
            Err(AdminError::Failure { code, .. }) if code == RetCode::ErrResNotKnown.code() => {
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// Status of one minor; `None` if the kernel does not know it.
    pub fn status(&mut self, minor: u32) -> Result<Option<MinorStatus>, AdminError> {
        let reply = self.nl.request(Command::GetStatus, minor, &[], 0)?;
        if reply.code == ReplyCode::Ret(RetCode::ErrMinorInvalid) {
            return Ok(None);
        }
        check(&reply, &minor.to_string())?;
        Ok(parse_status(&reply, minor))
    }

    /// Status of every configured minor, in minor order.
    pub fn status_all(&mut self) -> Result<Vec<MinorStatus>, AdminError> {
        let replies = self.nl.dump(Command::GetStatus, MINOR_NONE, &[])?;
        let mut all: Vec<MinorStatus> = replies
            .iter()
            .filter_map(|r| r.message().and_then(|m| parse_status(r, m.drbd.minor)))
            .collect();
        all.sort_by_key(|s| s.minor);
        Ok(all)
    }
}

/// The first state-change (or status) event about `minor` within `wait`.
fn next_state_event(
    events: &mut Events,
    minor: u32,
    wait: Duration,
) -> Result<Option<State>, NlError> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(ev) = events.recv(left)? else {
            return Ok(None);
        };
        if ev.cmd() != Some(Command::Event as u8) || ev.minor() != Some(minor) {
            continue;
        }
        let Some(msg) = ev.message() else { continue };
        let Some(info) = StateInfo::from_message(&msg, &ValidateOpts::LENIENT)
            .ok()
            .flatten()
        else {
            continue;
        };
        if !matches!(
            info.sib_reason,
            Some(sib_reason::STATE_CHANGE) | Some(sib_reason::GET_STATUS_REPLY)
        ) {
            continue;
        }
        if let Some(state) = info.current_state.and_then(|w| State::unpack(w).ok()) {
            return Ok(Some(state));
        }
    }
}

/// A `cfg_context` naming a connection by its endpoints (encoded into `my_buf`/`peer_buf`).
fn connection_context<'b>(
    ends: &Endpoints,
    my_buf: &'b mut [u8; SOCKADDR_IN6_LEN],
    peer_buf: &'b mut [u8; SOCKADDR_IN6_LEN],
) -> Result<CfgContext<'b>, AdminError> {
    let too_small = || AdminError::Netlink(NlError::Malformed("address buffer".into()));
    let my: &'b [u8] = ends.my.encode(my_buf).ok_or_else(too_small)?;
    let peer: &'b [u8] = ends.peer.encode(peer_buf).ok_or_else(too_small)?;
    Ok(CfgContext {
        ctx_my_addr: Some(my),
        ctx_peer_addr: Some(peer),
        ..CfgContext::default()
    })
}

fn context(name: &str, volume: Option<u32>) -> CfgContext<'_> {
    CfgContext {
        ctx_resource_name: Some(name.as_bytes()),
        ctx_volume: volume,
        ..CfgContext::default()
    }
}

fn check(reply: &Reply, object: &str) -> Result<(), AdminError> {
    match reply.code {
        c if c.is_success() => Ok(()),
        ReplyCode::State(code) => Err(AdminError::StateChange {
            object: object.to_string(),
            code,
            info: reply.info_text.clone(),
        }),
        other => Err(AdminError::Failure {
            object: object.to_string(),
            code: other.raw(),
            info: reply.info_text.clone(),
        }),
    }
}

/// The running configuration from GET_STATUS messages of one resource (see
/// [`Kernel::running`]); `None` without any.
pub fn running_from<'m>(messages: impl Iterator<Item = Message<'m>>) -> Option<Running> {
    let opts = ValidateOpts::LENIENT;
    let mut out: Option<Running> = None;
    for msg in messages {
        let Some(ctx) = CfgContext::from_message(&msg, &opts).ok().flatten() else {
            continue;
        };
        let r = out.get_or_insert_with(Running::default);
        let values = |def: &'static SetDef| -> Option<Values> {
            let a = msg.tla(def.tla)?;
            let view = validate_set(def, a.payload(), &opts).ok()?;
            Some(
                view.fields()
                    .map(|(f, v)| (f.id, OwnedValue::from_value(&v)))
                    .collect(),
            )
        };
        if let Some(res) = values(&sets::RES_OPTS) {
            r.res_opts = res;
        }
        if let Some(net) = values(&sets::NET_CONF) {
            r.net = Some(net);
        }
        let addr = |b: Option<&[u8]>| b.and_then(SockAddr::decode);
        if let (Some(my), Some(peer)) = (addr(ctx.ctx_my_addr), addr(ctx.ctx_peer_addr)) {
            r.ends = Some((my, peer));
        }
        let Some(volume) = ctx.ctx_volume else {
            continue;
        };
        let disk = values(&sets::DISK_CONF).and_then(|conf| {
            let text = |id: u16| match conf.get(&id) {
                Some(OwnedValue::Str(s)) => String::from_utf8_lossy(s).into_owned(),
                _ => String::new(),
            };
            let backing = text(1);
            let meta_idx = match conf.get(&3) {
                Some(OwnedValue::S32(i)) => *i,
                _ => -1,
            };
            (!backing.is_empty()).then(|| RunningDisk {
                backing,
                meta_dev: text(2),
                meta_idx,
                conf: conf.clone(),
            })
        });
        r.volumes.push(RunningVolume {
            volume,
            minor: msg.drbd.minor,
            disk,
        });
    }
    if let Some(r) = out.as_mut() {
        r.volumes.sort_by_key(|v| v.volume);
    }
    out
}

/// Field values by id.
pub type Values = std::collections::BTreeMap<u16, OwnedValue>;

/// A resource's configuration in the kernel (what `drbdsetup-84 show` prints).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Running {
    /// `res_opts` (every field the kernel reported; empty for a resource without minors).
    pub res_opts: Values,
    /// `net_conf`, while a net config exists.
    pub net: Option<Values>,
    /// The connection's own and peer address, while a net config exists.
    pub ends: Option<(SockAddr, SockAddr)>,
    /// The minors, by volume number.
    pub volumes: Vec<RunningVolume>,
}

/// One volume in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningVolume {
    /// Volume number.
    pub volume: u32,
    /// Its minor.
    pub minor: u32,
    /// The attached disk, if any.
    pub disk: Option<RunningDisk>,
}

/// An attached disk in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningDisk {
    /// The backing device's path.
    pub backing: String,
    /// The meta-data device's path.
    pub meta_dev: String,
    /// The meta-data index (-1 internal, -3 flexible internal, -2 flexible external).
    pub meta_idx: i32,
    /// Every `disk_conf` field reported.
    pub conf: Values,
}

fn parse_status(reply: &Reply, minor: u32) -> Option<MinorStatus> {
    let msg = reply.message()?;
    let opts = drbd_core::genl::validate::ValidateOpts::LENIENT;
    let ctx = CfgContext::from_message(&msg, &opts).ok().flatten();
    let info = StateInfo::from_message(&msg, &opts).ok().flatten()?;
    let state = State::unpack(info.current_state?).ok()?;
    Some(MinorStatus {
        resource: ctx
            .and_then(|c| c.ctx_resource_name)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default(),
        volume: ctx.and_then(|c| c.ctx_volume).unwrap_or(0),
        minor,
        state,
        capacity: info.capacity.unwrap_or(0),
        bits_total: info.bits_total.unwrap_or(0),
        bits_oos: info.bits_oos.unwrap_or(0),
        bits_rs_total: info.bits_rs_total,
        bits_rs_failed: info.bits_rs_failed.unwrap_or(0),
        uuids: info.uuids.and_then(|b| {
            let mut out = [0u64; 4];
            for (i, u) in out.iter_mut().enumerate() {
                *u = u64::from_ne_bytes(b.get(i * 8..i * 8 + 8)?.try_into().ok()?);
            }
            Some(out)
        }),
        disk_flags: info.disk_flags,
    })
}

/// An attribute value owned by the caller (config values are converted before encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedValue {
    /// A flag.
    Flag(bool),
    /// A u32.
    U32(u32),
    /// An s32.
    S32(i32),
    /// A u64.
    U64(u64),
    /// A string.
    Str(Vec<u8>),
}

impl OwnedValue {
    /// A decoded value, owned (a binary as a string of its bytes).
    pub fn from_value(v: &Value<'_>) -> Self {
        match *v {
            Value::Flag(b) => OwnedValue::Flag(b),
            Value::U32(x) => OwnedValue::U32(x),
            Value::S32(x) => OwnedValue::S32(x),
            Value::U64(x) => OwnedValue::U64(x),
            Value::Str(s) | Value::Bin(s) => OwnedValue::Str(s.to_vec()),
        }
    }

    /// The value as the encoder takes it.
    pub fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::Flag(b) => Value::Flag(*b),
            OwnedValue::U32(v) => Value::U32(*v),
            OwnedValue::S32(v) => Value::S32(*v),
            OwnedValue::U64(v) => Value::U64(*v),
            OwnedValue::Str(s) => Value::Str(s),
        }
    }
}

/// Turn config options into attributes of `set` by their drbdsetup option names, skipping the
/// field ids in `skip` (given separately). Options the kernel set does not have (e.g. config
/// options that only drbdadm evaluates) are left out.
pub fn option_values(
    set: &SetDef,
    options: &OptionList,
    skip: &[u16],
) -> Result<Vec<(u16, OwnedValue)>, AdminError> {
    let mut out = Vec::new();
    let entries: Vec<&OptionEntry> = options.iter().collect();
    for (i, entry) in entries.iter().enumerate() {
        // An option given twice: the last counts (as when drbdsetup-84 gets both).
        if entries[i + 1..]
            .iter()
            .any(|later| later.name == entry.name)
        {
            continue;
        }
        let Some(field) = set.fields.iter().find(|f| f.option == entry.name) else {
            continue;
        };
        if skip.contains(&field.id) {
            continue;
        }
        let bad = || {
            AdminError::BadOption(format!(
                "option {}: value does not fit the kernel's field",
                entry.name
            ))
        };
        let value = match (&field.ty, &entry.value) {
            (FieldType::Flag, OptValue::Flag(b)) => OwnedValue::Flag(*b),
            (FieldType::U32, OptValue::Number(n)) => {
                OwnedValue::U32(u32::try_from(*n).map_err(|_| bad())?)
            }
            (FieldType::S32, OptValue::Number(n)) => {
                OwnedValue::S32(i32::try_from(*n).map_err(|_| bad())?)
            }
            (FieldType::U64, OptValue::Number(n)) => OwnedValue::U64(*n),
            (FieldType::U32, OptValue::Text(t)) => {
                let code = field
                    .values
                    .iter()
                    .find(|v| v.name == t.as_str())
                    .ok_or_else(|| {
                        AdminError::BadOption(format!("option {}: unknown value '{t}'", entry.name))
                    })?;
                OwnedValue::U32(code.value)
            }
            (FieldType::Str { .. }, OptValue::Text(t)) => OwnedValue::Str(t.as_bytes().to_vec()),
            _ => return Err(bad()),
        };
        out.push((field.id, value));
    }
    Ok(out)
}
