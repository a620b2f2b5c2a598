// SPDX-License-Identifier: GPL-2.0
//! A configuration set as the kernel keeps it: every field of `disk_conf`, `net_conf` or
//! `res_opts` with a value, as drbd's `struct disk_conf` etc. (fields with a default start
//! at it, the others at zero / empty). Requests are applied to it (`attach`, `connect`,
//! `new-resource` over the defaults; `disk-options`, `net-options`, `resource-options` over
//! the current values, or over the defaults with `--set-defaults`, invariant fields kept),
//! and it is encoded whole into GET_STATUS replies, as drbd's `*_to_skb` do: what
//! `drbdsetup-84 show` prints and `drbdadm-84 adjust` compares with the configuration.
//!
//! Fixed size, no allocation: strings live in one byte area, each field at its own offset
//! (the sum of the fields' maximum lengths must fit, checked by [`StoredSet::new`]).

use super::sets::{DefaultValue, FieldDef, FieldType, SetDef};
use super::typed::SetEncode;
use super::validate::{validate_set, SetView, ValidateOpts};
use super::value::{put_field, FieldStyle, Value};
use super::writer::{EncodeError, Writer};

/// Fields a stored set can hold (`net_conf` has 31).
pub const STORED_FIELDS: usize = 32;
/// Bytes of string storage (`net_conf`: five strings of 64).
pub const STORED_TEXT: usize = 320;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// A number, flag or signed value, widened (s32 as its two's-complement bits).
    Num(u64),
    /// A string at `off` of the text area, `len` bytes (without NUL).
    Text { off: u16, len: u16 },
}

/// One set's current values (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredSet {
    def: &'static SetDef,
    slots: [Slot; STORED_FIELDS],
    text: [u8; STORED_TEXT],
}

/// Characters a string field can hold (its buffer without the NUL).
fn text_capacity(f: &FieldDef) -> usize {
    match f.ty {
        FieldType::Str { max } => usize::from(max).saturating_sub(1),
        FieldType::Bin { max } => usize::from(max),
        _ => 0,
    }
}

impl StoredSet {
    /// The set `def` at its defaults; `None` if `def` does not fit the fixed storage.
    pub fn new(def: &'static SetDef) -> Option<Self> {
        if def.fields.len() > STORED_FIELDS {
            return None;
        }
        let mut s = StoredSet {
            def,
            slots: [Slot::Num(0); STORED_FIELDS],
            text: [0; STORED_TEXT],
        };
        let mut off = 0usize;
        for (i, f) in def.fields.iter().enumerate() {
            if matches!(f.ty, FieldType::Str { .. } | FieldType::Bin { .. }) {
                let cap = text_capacity(f);
                if off + cap > STORED_TEXT {
                    return None;
                }
                s.slots[i] = Slot::Text {
                    off: off as u16,
                    len: 0,
                };
                off += cap;
            }
        }
        s.reset_defaults(false);
        Some(s)
    }

    /// The set's table.
    pub fn def(&self) -> &'static SetDef {
        self.def
    }

    /// Every field with a default back to it (`--set-defaults`); with `keep_invariant`,
    /// invariant fields keep their values (a change request cannot touch them).
    pub fn reset_defaults(&mut self, keep_invariant: bool) {
        for f in self.def.fields {
            if keep_invariant && f.flags.is_invariant() {
                continue;
            }
            let v = match f.default {
                Some(DefaultValue::Flag(b)) => Value::Flag(b),
                Some(DefaultValue::U32(x)) => Value::U32(x),
                Some(DefaultValue::S32(x)) => Value::S32(x),
                Some(DefaultValue::U64(x)) => Value::U64(x),
                Some(DefaultValue::Str(t)) => Value::Str(t.as_bytes()),
                None => continue,
            };
            self.set(f.id, v);
        }
    }

    fn index(&self, id: u16) -> Option<usize> {
        self.def.fields.iter().position(|f| f.id == id)
    }

    /// Set field `id` (a value of another type, or a string too long, is ignored: requests
    /// are validated before they get here). Whether it was set.
    pub fn set(&mut self, id: u16, v: Value<'_>) -> bool {
        let Some(i) = self.index(id) else {
            return false;
        };
        let f = &self.def.fields[i];
        if !v.matches(f.ty) {
            return false;
        }
        let slot = match (self.slots[i], v) {
            (Slot::Text { off, .. }, Value::Str(b) | Value::Bin(b)) => {
                if b.len() > text_capacity(f) {
                    return false;
                }
                let start = usize::from(off);
                let Some(dst) = self.text.get_mut(start..start + b.len()) else {
                    return false;
                };
                dst.copy_from_slice(b);
                Slot::Text {
                    off,
                    len: b.len() as u16,
                }
            }
            (_, Value::Flag(b)) => Slot::Num(u64::from(b)),
            (_, Value::U32(x)) => Slot::Num(u64::from(x)),
            (_, Value::S32(x)) => Slot::Num(u64::from(x as u32)),
            (_, Value::U64(x)) => Slot::Num(x),
            _ => return false,
        };
        self.slots[i] = slot;
        true
    }

    /// The value of field `id`.
    pub fn get(&self, id: u16) -> Option<Value<'_>> {
        let i = self.index(id)?;
        let f = &self.def.fields[i];
        Some(match (self.slots[i], f.ty) {
            (Slot::Text { off, len }, FieldType::Str { .. }) => {
                Value::Str(self.text.get(usize::from(off)..usize::from(off + len))?)
            }
            (Slot::Text { off, len }, FieldType::Bin { .. }) => {
                Value::Bin(self.text.get(usize::from(off)..usize::from(off + len))?)
            }
            (Slot::Num(n), FieldType::Flag) => Value::Flag(n != 0),
            (Slot::Num(n), FieldType::U32) => Value::U32(n as u32),
            (Slot::Num(n), FieldType::S32) => Value::S32(n as u32 as i32),
            (Slot::Num(n), FieldType::U64) => Value::U64(n),
            _ => return None,
        })
    }

    /// Take the fields a request carries (`view` of this set); a change request
    /// (`change`) leaves the invariant fields alone, as `*_from_attrs_for_change`.
    pub fn apply(&mut self, view: &SetView<'_>, change: bool) {
        for (f, v) in view.fields() {
            if change && f.flags.is_invariant() {
                continue;
            }
            self.set(f.id, v);
        }
    }

    /// The set encoded as its fields (the nest's content) into `buf`, and validated back:
    /// a view the typed sets decode from (`NetConf::from_view`, ...).
    pub fn view<'b>(&self, buf: &'b mut [u8]) -> Option<SetView<'b>> {
        let len = {
            let mut w = Writer::new(buf);
            let style = FieldStyle {
                mandatory_bits: false,
                pad_u64: false,
                include_sensitive: true,
            };
            self.encode_fields(&mut w, &style).ok()?;
            w.len()
        };
        validate_set(self.def, buf.get(..len)?, &ValidateOpts::LENIENT).ok()
    }
}

impl SetEncode for StoredSet {
    fn set_def(&self) -> &'static SetDef {
        self.def
    }

    fn encode_fields(&self, w: &mut Writer<'_>, style: &FieldStyle) -> Result<(), EncodeError> {
        for f in self.def.fields {
            if let Some(v) = self.get(f.id) {
                put_field(w, self.def.name, f, &v, style)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::sets::{DISK_CONF, NET_CONF, RES_OPTS};
    use super::super::typed::{DiskConf, EncodeOpts, NetConf, ResOpts};
    use super::*;

    fn request_view<'b>(
        def: &'static SetDef,
        values: &[(u16, Value<'_>)],
        buf: &'b mut [u8],
        change: bool,
    ) -> SetView<'b> {
        let len = {
            let mut w = Writer::new(buf);
            let style = FieldStyle {
                mandatory_bits: true,
                pad_u64: false,
                include_sensitive: true,
            };
            for (id, v) in values {
                put_field(&mut w, def.name, def.field(*id).unwrap(), v, &style).unwrap();
            }
            w.len()
        };
        let opts = ValidateOpts {
            change,
            check_ranges: false,
        };
        validate_set(def, &buf[..len], &opts).unwrap()
    }

    #[test]
    fn every_conf_set_fits() {
        for def in [&DISK_CONF, &NET_CONF, &RES_OPTS] {
            assert!(StoredSet::new(def).is_some(), "{}", def.name);
        }
    }

    #[test]
    fn starts_at_the_defaults_with_every_field() {
        let s = StoredSet::new(&DISK_CONF).unwrap();
        assert_eq!(s.get(8), Some(Value::U32(250))); // resync-rate
        assert_eq!(s.get(9), Some(Value::S32(-1))); // resync-after
        assert_eq!(s.get(17), Some(Value::Flag(true))); // disk-flushes
        assert_eq!(s.get(1), Some(Value::Str(b""))); // backing_dev: no default, empty
        assert_eq!(s.get(3), Some(Value::S32(0)));
        let mut buf = [0u8; 1024];
        let conf = DiskConf::from_view(&s.view(&mut buf).unwrap());
        assert_eq!(conf.al_extents, Some(1237));
        assert_eq!(conf.c_plan_ahead, Some(20));
        let r = StoredSet::new(&RES_OPTS).unwrap();
        let mut buf = [0u8; 256];
        let o = ResOpts::from_view(&r.view(&mut buf).unwrap());
        assert_eq!((o.cpu_mask, o.on_no_data), (Some(&b""[..]), Some(0)));
    }

    #[test]
    fn create_then_change_then_set_defaults() {
        let mut s = StoredSet::new(&DISK_CONF).unwrap();
        let mut buf = [0u8; 512];
        let attach = request_view(
            &DISK_CONF,
            &[
                (1, Value::Str(b"/dev/vda")),
                (2, Value::Str(b"/dev/vda")),
                (3, Value::S32(-1)),
                (4, Value::U64(2048)),
                (8, Value::U32(128)),
                (6, Value::U32(1)),
            ],
            &mut buf,
            false,
        );
        s.apply(&attach, false);
        assert_eq!(s.get(1), Some(Value::Str(b"/dev/vda")));
        assert_eq!(s.get(3), Some(Value::S32(-1)));
        assert_eq!(s.get(4), Some(Value::U64(2048)));
        // disk-options: only what it carries; invariant fields stay (even if one got here).
        let mut buf = [0u8; 512];
        let change = request_view(&DISK_CONF, &[(10, Value::U32(7 * 67))], &mut buf, true);
        s.apply(&change, true);
        s.apply(&attach_again(&mut [0u8; 512]), true);
        assert_eq!(s.get(4), Some(Value::U64(2048)));
        assert_eq!(s.get(1), Some(Value::Str(b"/dev/vda")));
        assert_eq!(s.get(10), Some(Value::U32(469)));
        assert_eq!(s.get(8), Some(Value::U32(128)));
        // --set-defaults: every option back, the disk and its size kept.
        s.reset_defaults(true);
        assert_eq!(s.get(8), Some(Value::U32(250)));
        assert_eq!(s.get(6), Some(Value::U32(2)));
        assert_eq!(s.get(1), Some(Value::Str(b"/dev/vda")));
        assert_eq!(s.get(4), Some(Value::U64(2048)));
    }

    fn attach_again(buf: &mut [u8]) -> SetView<'_> {
        let values = [
            (1, Value::Str(b"/dev/x")),
            (2, Value::Str(b"/dev/x")),
            (3, Value::S32(-1)),
            (4, Value::U64(1)),
        ];
        request_view(&DISK_CONF, &values, buf, false)
    }

    #[test]
    fn strings_replace_each_other_in_place() {
        let mut s = StoredSet::new(&NET_CONF).unwrap();
        assert!(s.set(4, Value::Str(b"sha256")));
        assert!(s.set(5, Value::Str(b"md5")));
        assert!(s.set(4, Value::Str(b"md5")));
        assert_eq!(s.get(4), Some(Value::Str(b"md5")));
        assert_eq!(s.get(5), Some(Value::Str(b"md5")));
        assert!(
            !s.set(4, Value::Str(&[b'x'; 64])),
            "64 characters do not fit 64 with NUL"
        );
        assert!(!s.set(4, Value::U32(1)), "wrong type");
        let mut buf = [0u8; 1024];
        let n = NetConf::from_view(&s.view(&mut buf).unwrap());
        assert_eq!(n.verify_alg, Some(&b"md5"[..]));
        assert_eq!(n.wire_protocol, Some(3));
        assert_eq!(n.discard_my_data, Some(false));
    }

    #[test]
    fn encodes_as_the_kernel_without_the_secret() {
        let mut s = StoredSet::new(&NET_CONF).unwrap();
        s.set(1, Value::Str(b"secret"));
        let mut buf = [0u8; 1024];
        let len = {
            let mut w = Writer::new(&mut buf);
            s.encode(&mut w, &EncodeOpts::KERNEL).unwrap();
            w.len()
        };
        // One nested attribute (4 bytes of header) with every field but the secret.
        let inner = validate_set(&NET_CONF, &buf[4..len], &ValidateOpts::LENIENT).unwrap();
        assert_eq!(inner.get(1), None);
        assert_eq!(inner.fields().count(), NET_CONF.fields.len() - 1);
    }
}
