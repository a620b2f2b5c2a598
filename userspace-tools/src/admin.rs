//! What the admin tool asks of the kernel: DRBD 8.4 generic-netlink requests, and the
//! result codes turned into the messages drbdsetup prints.

use drbd_core::genl::commands::Command;
use drbd_core::genl::msg::MINOR_NONE;
use drbd_core::genl::ret_code::{ReplyCode, RetCode};
use drbd_core::genl::sets::{self, FieldType, SetDef};
use drbd_core::genl::typed::{
    CfgContext, DiskConf, FieldValues, ResizeParms, SetEncode, SetRoleParms, StateInfo,
};
use drbd_core::genl::value::Value;
use drbd_core::state::{State, StateError};

use crate::config::options::{OptionList, Value as OptValue};
use crate::netlink::{DrbdGenl, NlError, Reply};

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
    /// A config option the kernel does not take.
    BadOption(String),
}

impl AdminError {
    /// Exit status for this error (drbdsetup's conventions).
    pub fn exit_code(&self) -> u8 {
        match self {
            AdminError::Netlink(_) => 20,
            AdminError::StateChange { .. } => 11,
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

    /// `new-resource NAME` (an existing resource is fine).
    pub fn new_resource(&mut self, name: &str) -> Result<(), AdminError> {
        let ctx = context(name, None);
        self.call(Command::NewResource, MINOR_NONE, name, &[&ctx])
            .map(drop)
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
        let mut values = vec![
            (1, Value::Str(lower.as_bytes())),
            (2, Value::Str(meta.as_bytes())),
            (3, Value::S32(meta_index)),
        ];
        let owned = option_values(&sets::DISK_CONF, options, &[1, 2, 3])?;
        values.extend(owned.iter().map(|(id, v)| (*id, v.as_value())));
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
        self.call(Command::Secondary, minor, &minor.to_string(), &[])
            .map(drop)
    }

    /// `detach MINOR`.
    pub fn detach(&mut self, minor: u32) -> Result<(), AdminError> {
        self.call(Command::Detach, minor, &minor.to_string(), &[])
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
    fn as_value(&self) -> Value<'_> {
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
    for entry in options.iter() {
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
