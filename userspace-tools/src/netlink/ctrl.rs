//! `nlctrl`, the generic-netlink controller: resolving a family name to its id, version,
//! user header size, highest attribute and multicast groups (`CTRL_CMD_GETFAMILY`).
//!
//! Request: `nlmsghdr` (type `GENL_ID_CTRL`) | `genlmsghdr` (cmd `CTRL_CMD_GETFAMILY`,
//! version 2) | `CTRL_ATTR_FAMILY_NAME` (NUL-terminated string). Reply: one
//! `CTRL_CMD_NEWFAMILY` message with the family's attributes, or `NLMSG_ERROR` `-ENOENT` if no
//! family has that name. Parsing goes through the core's non-panicking attribute walker.

use drbd_core::genl::msg::{GenlMsgHdr, NlMsgHdr, GENL_HDRLEN, NLMSG_HDRLEN, NLM_F_ACK};
use drbd_core::genl::msg::{NLMSG_MIN_TYPE, NLM_F_REQUEST};
use drbd_core::genl::nla::{Attr, Attrs};
use drbd_core::genl::writer::{EncodeError, Writer};

use super::{FamilyInfo, McastGroup};

/// Message type (family id) of the controller (`GENL_ID_CTRL`).
pub(crate) const GENL_ID_CTRL: u16 = NLMSG_MIN_TYPE;
/// `CTRL_CMD_NEWFAMILY`: the controller's answer.
pub(crate) const CTRL_CMD_NEWFAMILY: u8 = 1;
/// `CTRL_CMD_GETFAMILY`: look a family up.
pub(crate) const CTRL_CMD_GETFAMILY: u8 = 3;
/// Controller family version sent in requests (as libnl and drbd-utils do).
pub(crate) const CTRL_VERSION: u8 = 2;

/// `CTRL_ATTR_FAMILY_ID` (u16).
pub(crate) const CTRL_ATTR_FAMILY_ID: u16 = 1;
/// `CTRL_ATTR_FAMILY_NAME` (string).
pub(crate) const CTRL_ATTR_FAMILY_NAME: u16 = 2;
/// `CTRL_ATTR_VERSION` (u32).
pub(crate) const CTRL_ATTR_VERSION: u16 = 3;
/// `CTRL_ATTR_HDRSIZE` (u32).
pub(crate) const CTRL_ATTR_HDRSIZE: u16 = 4;
/// `CTRL_ATTR_MAXATTR` (u32).
pub(crate) const CTRL_ATTR_MAXATTR: u16 = 5;
/// `CTRL_ATTR_MCAST_GROUPS` (nested array of nested groups).
pub(crate) const CTRL_ATTR_MCAST_GROUPS: u16 = 7;
/// `CTRL_ATTR_MCAST_GRP_NAME` (string), inside a group.
pub(crate) const CTRL_ATTR_MCAST_GRP_NAME: u16 = 1;
/// `CTRL_ATTR_MCAST_GRP_ID` (u32), inside a group.
pub(crate) const CTRL_ATTR_MCAST_GRP_ID: u16 = 2;

/// Longest family name the controller accepts (`GENL_NAMSIZ` − 1).
const GENL_NAMSIZ: usize = 16;

/// Build a `CTRL_CMD_GETFAMILY` request for `name` (with `NLM_F_ACK`); returns its length.
pub(crate) fn build_getfamily(
    buf: &mut [u8],
    name: &[u8],
    seq: u32,
    pid: u32,
) -> Result<usize, EncodeError> {
    if name.len() >= GENL_NAMSIZ {
        return Err(EncodeError::TooLarge);
    }
    let mut w = Writer::new(buf);
    w.put_raw(
        &NlMsgHdr {
            len: 0,
            ty: GENL_ID_CTRL,
            flags: NLM_F_REQUEST | NLM_F_ACK,
            seq,
            pid,
        }
        .to_bytes(),
    )?;
    w.put_raw(
        &GenlMsgHdr {
            cmd: CTRL_CMD_GETFAMILY,
            version: CTRL_VERSION,
            reserved: 0,
        }
        .to_bytes(),
    )?;
    w.put_string(CTRL_ATTR_FAMILY_NAME, name)?;
    let len = w.len();
    let len32 = u32::try_from(len).map_err(|_| EncodeError::TooLarge)?;
    w.patch(0, &len32.to_ne_bytes())?;
    Ok(len)
}

fn u16_attr(a: &Attr<'_>) -> Option<u16> {
    let b: [u8; 2] = a.payload().get(..2)?.try_into().ok()?;
    Some(u16::from_ne_bytes(b))
}

fn string_attr(a: &Attr<'_>) -> String {
    let bytes = a.get_nul_str().unwrap_or(a.payload());
    String::from_utf8_lossy(bytes).into_owned()
}

fn u32_attr(a: &Attr<'_>, what: &str) -> Result<u32, String> {
    a.get_u32()
        .ok_or_else(|| format!("nlctrl {what} is not a u32 ({} bytes)", a.payload().len()))
}

/// Parse one `CTRL_CMD_NEWFAMILY` message (header included, `nlmsg_len` bounded).
/// Missing version / header size read as 0 (they then fail the API check).
pub(crate) fn parse_family(msg: &[u8]) -> Result<FamilyInfo, String> {
    let nl = NlMsgHdr::parse(msg).ok_or("truncated nlctrl reply")?;
    if nl.ty != GENL_ID_CTRL {
        return Err(format!("nlctrl reply of message type {:#x}", nl.ty));
    }
    let len = usize::try_from(nl.len).map_err(|_| "bad nlctrl reply length")?;
    let body = msg.get(NLMSG_HDRLEN..len).ok_or("truncated nlctrl reply")?;
    let genl = GenlMsgHdr::parse(body).ok_or("nlctrl reply without genetlink header")?;
    if genl.cmd != CTRL_CMD_NEWFAMILY {
        return Err(format!("nlctrl reply with command {}", genl.cmd));
    }
    let attrs = body.get(GENL_HDRLEN..).unwrap_or(&[]);
    let mut info = FamilyInfo::default();
    let mut have_id = false;
    for a in Attrs::new(attrs) {
        let a = a.map_err(|e| format!("nlctrl reply: {e}"))?;
        match a.id() {
            CTRL_ATTR_FAMILY_ID => {
                info.id = u16_attr(&a).ok_or("nlctrl family id is not a u16")?;
                have_id = true;
            }
            CTRL_ATTR_FAMILY_NAME => info.name = string_attr(&a),
            CTRL_ATTR_VERSION => info.version = u32_attr(&a, "version")?,
            CTRL_ATTR_HDRSIZE => info.hdrsize = u32_attr(&a, "header size")?,
            CTRL_ATTR_MAXATTR => info.maxattr = u32_attr(&a, "maxattr")?,
            CTRL_ATTR_MCAST_GROUPS => {
                for grp in a.nested() {
                    let grp = grp.map_err(|e| format!("nlctrl multicast groups: {e}"))?;
                    let mut name = None;
                    let mut id = None;
                    for f in grp.nested() {
                        let f = f.map_err(|e| format!("nlctrl multicast group: {e}"))?;
                        match f.id() {
                            CTRL_ATTR_MCAST_GRP_NAME => name = Some(string_attr(&f)),
                            CTRL_ATTR_MCAST_GRP_ID => id = Some(u32_attr(&f, "group id")?),
                            _ => {}
                        }
                    }
                    // Like libgenl: a group needs both a name and an id.
                    if let (Some(name), Some(id)) = (name, id) {
                        info.mcast_groups.push(McastGroup { name, id });
                    }
                }
            }
            _ => {}
        }
    }
    if !have_id || info.id == 0 {
        return Err("nlctrl reply without family id".into());
    }
    Ok(info)
}
